import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { watchRejection } from '@app/common';
import { EncryptionNotConfirmedError, ObjectNotFoundError, StorageUnavailableError } from '../domain/errors.js';
import { assertStorageKey } from '../domain/stored-file.js';
import { ObjectStore, type ByteRange, type ObjectInfo, type PresignOptions, type PutOptions, type SignedResponse } from '../ports/object-store.port.js';
import type { S3UrlSigner } from './s3-url-signer.js';

/**
 * S3's smallest part (but the last). One buffer of this size per upload is
 * all it holds in memory, whatever the file's size: 16 uploads at once grew
 * the service by 61-78 MB, where lib-storage's Upload (which concatenates
 * each part out of the stream's chunks) grew it by ~14 MiB per upload even
 * with one part in flight (bench P2 on S3). The buffer is freed as soon as
 * the object is stored (see put).
 */
const PART_SIZE = 5 * 1024 * 1024;

export interface S3StoreOptions {
  bucket: string;
  /** S3_TIMEOUT_SECONDS: per attempt of every request, and in all for a request without a body stream. */
  timeoutMs: number;
  serverSideEncryption?: { algorithm: 'AES256' | 'aws:kms'; kmsKeyId?: string };
}

/**
 * Bytes in an S3 bucket (or MinIO), under the same `<orgId>/<fileName>` keys
 * as the fs store. Uploads stream through a multipart upload, one part in
 * memory at a time; one that fails is left for removeUnfinished to abort.
 * Requests without a body stream (head, delete, list, abort) give up after
 * the timeout in all, retries included; uploads and downloads after it
 * without progress.
 */
export class S3ObjectStore extends ObjectStore {
  constructor(
    private readonly client: S3Client,
    private readonly options: S3StoreOptions,
    /** Signs for the endpoint clients reach the store at (S3_PUBLIC_ENDPOINT), if it differs. */
    private readonly signer: S3UrlSigner,
  ) {
    super();
  }

  /**
   * The body fills one part buffer at a time; a full buffer is sent as a part
   * before the body is read on (its backpressure holds the client meanwhile).
   * A body that fits in one part is one PutObject. Nothing is sent before
   * `after` has resolved: the sweeper finds a multipart upload (through
   * ListMultipartUploads) only through its record. The body stays its
   * caller's: it is never destroyed here. A failed upload leaves its parts
   * for removeUnfinished to abort, which does not hold the answer up when the
   * store hangs.
   *
   * The part buffer lives as long as the upload, long enough for V8 to move it
   * to the old generation, where garbage waits for a collection of the whole
   * heap: after a burst of uploads their dead buffers (5 MiB each) stayed in
   * memory until then. Once every request that read it has answered, it is
   * freed on the spot by detaching it. Not when a request failed: one given up
   * on may still be writing from it (Node's socket write holds a raw pointer),
   * and that holds for a failed attempt the SDK retried too, so after a put
   * that needed a retry the buffer is left to the collector.
   */
  async put(key: string, body: Readable, { contentType, after }: PutOptions): Promise<void> {
    assertStorageKey(key);
    const sse = this.options.serverSideEncryption;
    const object = {
      Bucket: this.options.bucket,
      Key: key,
      ContentType: contentType,
      ServerSideEncryption: sse?.algorithm as ServerSideEncryption | undefined,
      SSEKMSKeyId: sse?.kmsKeyId,
    };
    // Its own ArrayBuffer (never a slice of Node's pool), so detaching it frees exactly it.
    const buffer = Buffer.allocUnsafeSlow(PART_SIZE);
    let retried = false;
    const sentFrom = <T extends { $metadata: { attempts?: number } }>(answer: T): T => {
      if ((answer.$metadata.attempts ?? 1) > 1) retried = true;
      return answer;
    };
    let filled = 0;
    let uploadId: string | undefined;
    const parts: CompletedPart[] = [];
    const sendPart = async () => {
      if (uploadId === undefined) {
        await after;
        uploadId = (await this.client.send(new CreateMultipartUploadCommand(object))).UploadId;
      }
      const PartNumber = parts.length + 1;
      const { ETag } = sentFrom(
        await this.client.send(
          new UploadPartCommand({ Bucket: object.Bucket, Key: key, UploadId: uploadId, PartNumber, Body: buffer.subarray(0, filled) }),
        ),
      );
      parts.push({ ETag, PartNumber });
      filled = 0;
    };
    // The record failing is the put's failure, with the record's own error.
    const record = watchRejection(after);
    let encryption: string | undefined;
    try {
      for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length; ) {
          const copied = chunk.copy(buffer, filled, offset);
          filled += copied;
          offset += copied;
          if (filled === PART_SIZE) await sendPart();
        }
      }
      if (uploadId === undefined) {
        await after;
        encryption = sentFrom(await this.client.send(new PutObjectCommand({ ...object, Body: buffer.subarray(0, filled) })))
          .ServerSideEncryption;
      } else {
        if (filled > 0) await sendPart();
        const done = await this.client.send(
          new CompleteMultipartUploadCommand({ Bucket: object.Bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        );
        encryption = done.ServerSideEncryption;
      }
    } catch (e) {
      if (record.rejected) throw record.rejected.error;
      storeFailure(e);
    }
    if (!retried) buffer.buffer.transfer(0);
    if (sse) await this.confirmEncryption(key, sse.algorithm, encryption);
  }

  /**
   * Some S3-compatible stores accept the encryption header and store plaintext
   * (Ceph RGW without a key configured): only a store that says it encrypted
   * the object has. The answer to a multipart upload may not say, so the
   * object's own metadata decides; an object not encrypted as asked is removed.
   */
  private async confirmEncryption(key: string, algorithm: string, answered: string | undefined): Promise<void> {
    if (answered === algorithm) return;
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }), this.deadline()).catch(storeFailure);
    if (head.ServerSideEncryption === algorithm) return;
    await this.delete(key);
    throw new EncryptionNotConfirmedError(algorithm);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertStorageKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Range: range ? `bytes=${range.start}-${range.end}` : undefined,
        }),
      );
      return out.Body as Readable;
    } catch (e) {
      throw isMissing(e) ? new ObjectNotFoundError() : storeFailure(e);
    }
  }

  async head(key: string): Promise<ObjectInfo> {
    assertStorageKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }), this.deadline());
      return { size: out.ContentLength ?? 0, contentType: out.ContentType };
    } catch (e) {
      throw isMissing(e) ? new ObjectNotFoundError() : storeFailure(e);
    }
  }

  presign(key: string, options: PresignOptions): Promise<string> {
    assertStorageKey(key);
    // Signing fails only on configuration or credentials (the provider chain), never on the request: a 503.
    return this.signer.sign(key, options).catch((e: unknown) => {
      throw new StorageUnavailableError(`Could not sign a URL for the object store (${(e as Error)?.name})`, { cause: e });
    });
  }

  /** S3 serves its own signed URLs; this service serves none for it. */
  verifySigned(_key: string, _query: Record<string, unknown>, _method: 'GET' | 'HEAD'): SignedResponse {
    throw new ObjectNotFoundError();
  }

  async delete(key: string): Promise<void> {
    assertStorageKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }), this.deadline()).catch(storeFailure);
  }

  /** Aborts multipart uploads of the key that a crash left behind (nothing else would, but a lifecycle rule, days later). */
  async removeUnfinished(key: string): Promise<void> {
    assertStorageKey(key);
    const { Uploads = [] } = await this.client
      .send(new ListMultipartUploadsCommand({ Bucket: this.options.bucket, Prefix: key }), this.deadline())
      .catch(storeFailure);
    for (const { Key, UploadId } of Uploads) {
      if (Key !== key || !UploadId) continue;
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key, UploadId }), this.deadline())
        .catch((e: unknown) => (isMissingUpload(e) ? undefined : storeFailure(e)));
    }
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), this.deadline());
  }

  private deadline(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.options.timeoutMs) };
  }
}

/** Only a missing key; a missing bucket is a misconfiguration, not a deleted file. */
function isMissing(e: unknown): boolean {
  const { name } = (e ?? {}) as { name?: string };
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** An upload aborted meanwhile (by another sweeper): nothing left to do. */
function isMissingUpload(e: unknown): boolean {
  return (e as { name?: string })?.name === 'NoSuchUpload';
}

/**
 * S3's own failures (service errors carry $metadata), network failures and
 * credentials that cannot be had (an identity endpoint down, a token file
 * gone) become a 503; anything else, such as the upload's content failing
 * its checks mid-stream, passes through unchanged.
 */
function storeFailure(e: unknown): never {
  const { $metadata, name, code } = (e ?? {}) as { $metadata?: unknown; name?: string; code?: string };
  if ($metadata || ['TimeoutError', 'AbortError', 'CredentialsProviderError'].includes(name ?? '') || (code && /^E[A-Z]+$/.test(code))) {
    throw new StorageUnavailableError(`The object store failed (${name ?? code})`, { cause: e });
  }
  throw e;
}
