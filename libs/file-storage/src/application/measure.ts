import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BodyCheck } from '../domain/body-check.js';
import { FileTooLargeError } from '../domain/errors.js';

export interface Measurement {
  size: number;
  sha256: string;
  /** Base64 SHA-1: what FHIR's Attachment.hash carries. */
  sha1: string;
}

/**
 * Passes the content through once, counting, hashing and checking it on the
 * way. The stream fails (and so does whatever consumes it) the moment the
 * content is too large or fails its body check.
 */
export function measure(source: AsyncIterable<Buffer>, maxBytes: number, check?: BodyCheck) {
  const hash = createHash('sha256');
  const fhirHash = createHash('sha1');
  let size = 0;
  let complete = false;
  let failure: unknown;

  /** Errors of the content itself: reading it, its size, its body check. */
  const refuse = (e: unknown): never => {
    failure = e;
    throw e;
  };

  async function* run(): AsyncGenerator<Buffer> {
    const chunks = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = await chunks.next().catch(refuse);
        if (next.done) break;
        const chunk = next.value;
        size += chunk.length;
        if (size > maxBytes) refuse(new FileTooLargeError(maxBytes));
        hash.update(chunk);
        fhirHash.update(chunk);
        try {
          check?.update(chunk);
        } catch (e) {
          refuse(e);
        }
        // An error thrown in here comes from downstream (a failed reader), not from the content.
        yield chunk;
      }
      try {
        check?.end();
      } catch (e) {
        refuse(e);
      }
      complete = true;
    } finally {
      if (!complete) await chunks.return?.();
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
      return { size, sha256: hash.digest('hex'), sha1: fhirHash.digest('base64') };
    },
  };
}
