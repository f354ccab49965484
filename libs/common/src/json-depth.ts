import { DomainError } from './domain-error.js';

/**
 * The deepest JSON this service takes anywhere: FHIR resources, uploaded
 * JSON files, and the walks over them. Deeper than any clinical document
 * needs, and shallow enough that no recursive walk can run out of stack.
 */
export const MAX_JSON_DEPTH = 64;

export class JsonTooDeepError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'json_too_deep';
  constructor() {
    super(`The JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/**
 * Tracks the nesting of JSON bytes as they arrive, outside strings, in
 * constant memory, so a body of megabytes of `[` is refused after
 * MAX_JSON_DEPTH levels, before any parser builds it. Works on raw UTF-8:
 * the bytes it looks at are ASCII, which never occur inside a multi-byte
 * character.
 */
export class JsonDepthLimit {
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Throws JsonTooDeepError once the nesting passes MAX_JSON_DEPTH. */
  update(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) {
        this.inString = true;
      } else if (OPEN.has(c)) {
        if (++this.depth > MAX_JSON_DEPTH) throw new JsonTooDeepError();
      } else if (CLOSE.has(c)) {
        this.depth--;
      }
    }
  }
}
