import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface ObjectInfo {
  size: number;
  contentType?: string;
}

export interface PresignOptions {
  /** A URL signed for GET fails for HEAD on S3, so the method is part of the signature. */
  method: 'GET' | 'HEAD';
  expiresInSeconds: number;
  /** Sent back as the response's Content-Type and Content-Disposition. */
  contentType: string;
  contentDisposition: string;
}

/** What a verified signed URL says the response must carry. */
export interface SignedResponse {
  contentType: string;
  contentDisposition: string;
}

export interface PutOptions {
  contentType: string;
  /**
   * Nothing becomes visible under the key before this has resolved (the
   * file's record exists), so the bytes can be written while the record is
   * still being made; if it rejects, the put rejects with its error, as soon
   * as it can, and leaves nothing.
   */
  after?: Promise<unknown>;
}

/**
 * Port: where the bytes live. Keys are `<orgId>/<fileId>.<ext>`. Adapters
 * never see an organization or a record, only keys and streams.
 */
export abstract class ObjectStore {
  /**
   * Writes the whole stream under `key`, atomically: until the promise
   * resolves nothing is visible under the key, and if it rejects nothing is
   * (the stream's error, or the store's). It does not wait for the store to
   * take back a partial write, which may hang with the store: the caller
   * removes that with removeUnfinished(key).
   */
  abstract put(key: string, body: Readable, options: PutOptions): Promise<void>;

  /** The bytes (or a range of them). Rejects with ObjectNotFoundError. */
  abstract get(key: string, range?: ByteRange): Promise<Readable>;

  /**
   * Writes the bytes (or a range of them) into `destination`, without ending
   * it, and resolves once the last was handed over. Rejects with
   * ObjectNotFoundError before writing anything; when either side fails
   * mid-way it rejects after `destination` took part of the bytes. A store
   * that reads into buffers of its own reuses them, so a download allocates
   * nothing per chunk: on the service's heap, the garbage collection that
   * fresh chunks cause costs more than moving the bytes (bench P6). So
   * `destination` must be done with a chunk when it calls its write back, as
   * a socket or an HTTP response is (a PassThrough, which keeps the chunk, is
   * not).
   */
  async writeTo(key: string, destination: Writable, range?: ByteRange): Promise<void> {
    const source = await this.get(key, range);
    try {
      await pipeline(source, destination, { end: false });
    } catch (e) {
      // pipeline leaves the source open when the destination was gone before it started (an S3 socket, until its timeout).
      source.destroy();
      throw e;
    }
  }

  /** Size (and type, where the store keeps it) of an object, or ObjectNotFoundError. */
  abstract head(key: string): Promise<ObjectInfo>;

  /**
   * A URL that fetches the object without any other credentials until it
   * expires. Absolute for stores with their own endpoint (S3); a path on this
   * service for stores the service serves itself (fs).
   */
  abstract presign(key: string, options: PresignOptions): Promise<string>;

  /**
   * For stores whose signed URLs this service serves itself: checks the query
   * of a signed URL for `key` and returns the response headers it carries.
   * InvalidSignedUrlError if it was tampered with, has expired or is for
   * another method; ObjectNotFoundError for stores with their own endpoint.
   */
  abstract verifySigned(key: string, query: Record<string, unknown>, method: 'GET' | 'HEAD'): SignedResponse;

  /** Removes the object; succeeds if it is already gone. */
  abstract delete(key: string): Promise<void>;

  /**
   * Removes what a failed or crashed write of `key` left behind (a temp
   * file, an incomplete multipart upload); succeeds if there is nothing.
   * Only for writes that can no longer be in progress.
   */
  abstract removeUnfinished(key: string): Promise<void>;

  /** Throws if the store cannot currently serve requests (readiness). */
  abstract check(): Promise<void>;
}
