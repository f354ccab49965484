import { none } from 'stream-chain/defs.js';
import { jsonVerifier } from 'stream-json/core/utils/verifier.js';
import { UnsupportedContentError } from './errors.js';
import type { Recognition } from './content-types.js';

/**
 * Checks a body chunk by chunk, in constant memory. `update` and `end` throw
 * UnsupportedContentError as soon as the content is known to be invalid.
 */
export interface BodyCheck {
  update(chunk: Buffer): void;
  end(): void;
}

class Utf8TextCheck implements BodyCheck {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly onText?: (text: string) => void) {}

  update(chunk: Buffer): void {
    if (chunk.includes(0)) throw new UnsupportedContentError('The content contains NUL bytes, so it is not text');
    // Decode first: `this.onText?.(decode())` would skip the decoding, and so the check, without a listener.
    const text = this.decode(chunk, true);
    this.onText?.(text);
  }

  end(): void {
    const text = this.decode(undefined, false);
    this.onText?.(text);
  }

  private decode(chunk: Buffer | undefined, stream: boolean): string {
    try {
      return this.decoder.decode(chunk, { stream });
    } catch {
      throw new UnsupportedContentError('The content is not valid UTF-8 text');
    }
  }
}

/** Deeper nesting than any clinical export needs; the verifier keeps state per level. */
export const MAX_JSON_DEPTH = 256;

/**
 * Tracks bracket depth outside strings, so that a body of 50 MB of `[` is
 * refused after MAX_JSON_DEPTH levels instead of growing the verifier's stack.
 */
class DepthLimit {
  private depth = 0;
  private inString = false;
  private escaped = false;

  update(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
      } else if (c === 0x22) {
        this.inString = true;
      } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
        if (++this.depth > MAX_JSON_DEPTH) {
          throw new UnsupportedContentError(`The JSON is nested deeper than ${MAX_JSON_DEPTH} levels`);
        }
      } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
        this.depth--;
      }
    }
  }
}

class JsonCheck implements BodyCheck {
  private readonly depth = new DepthLimit();
  private readonly verify = jsonVerifier();
  private readonly text = new Utf8TextCheck((t) => this.feed(t));

  update(chunk: Buffer): void {
    this.text.update(chunk);
  }

  end(): void {
    this.text.end();
    this.feed(none);
  }

  private feed(text: string | typeof none): void {
    if (text === '') return;
    if (text !== none) this.depth.update(text as string);
    try {
      this.verify(text as string);
    } catch (e) {
      const where = e as { line?: number; pos?: number };
      const at = where.line ? ` (line ${where.line}, column ${where.pos})` : '';
      throw new UnsupportedContentError(`The content is not valid JSON${at}`);
    }
  }
}

/** A fresh check for a type recognised by its body, or undefined for signature types. */
export function createBodyCheck(recognition: Recognition): BodyCheck | undefined {
  switch (recognition) {
    case 'text':
      return new Utf8TextCheck();
    case 'json':
      return new JsonCheck();
    case 'magic':
      return undefined;
  }
}
