import { none } from 'stream-chain/defs.js';
import { JsonDepthLimit, JsonTooDeepError } from '@app/common';
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
    if (chunk.includes(0)) throw new UnsupportedContentError('not_text', 'The content contains NUL bytes, so it is not text');
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
      throw new UnsupportedContentError('invalid_utf8', 'The content is not valid UTF-8 text');
    }
  }
}

/**
 * Valid UTF-8 that parses as JSON, checked as it streams. The nesting is
 * bounded first: the verifier keeps state per level.
 */
class JsonCheck implements BodyCheck {
  private readonly depth = new JsonDepthLimit();
  private readonly verify = jsonVerifier();
  private readonly text = new Utf8TextCheck((t) => this.feed(t));

  update(chunk: Buffer): void {
    try {
      this.depth.update(chunk);
    } catch (e) {
      if (e instanceof JsonTooDeepError) throw new UnsupportedContentError('json_too_deep', e.message);
      throw e;
    }
    this.text.update(chunk);
  }

  end(): void {
    this.text.end();
    this.feed(none);
  }

  private feed(text: string | typeof none): void {
    if (text === '') return;
    try {
      this.verify(text as string);
    } catch (e) {
      const where = e as { line?: number; pos?: number };
      const at = where.line ? ` (line ${where.line}, column ${where.pos})` : '';
      throw new UnsupportedContentError('invalid_json', `The content is not valid JSON${at}`);
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
