import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BodyCheck } from '../domain/body-check.js';
import { FileTooLargeError } from '../domain/errors.js';

export interface Measurement {
  size: number;
  sha256: string;
}

/**
 * Passes the content through once, counting, hashing and checking it on the
 * way. The stream fails (and so does whatever consumes it) the moment the
 * content is too large or fails its body check.
 */
export function measure(source: AsyncIterable<Buffer>, maxBytes: number, check?: BodyCheck) {
  const hash = createHash('sha256');
  let size = 0;
  let complete = false;
  let failure: unknown;

  async function* run(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > maxBytes) throw new FileTooLargeError(maxBytes);
        hash.update(chunk);
        check?.update(chunk);
        yield chunk;
      }
      check?.end();
      complete = true;
    } catch (e) {
      failure = e;
      throw e;
    }
  }

  return {
    stream: Readable.from(run(), { objectMode: false }),
    /** Why the content itself was refused (or the source failed), if it was. */
    get failure(): unknown {
      return failure;
    },
    /** Only valid once the stream has been consumed to the end without error. */
    result(): Measurement {
      if (!complete) throw new Error('The content was not read to the end');
      return { size, sha256: hash.digest('hex') };
    },
  };
}
