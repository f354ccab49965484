import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ObjectNotFoundError, StorageUnavailableError } from '../domain/errors.js';
import { assertStorageKey } from '../domain/stored-file.js';
import { ObjectStore, type ByteRange, type ObjectInfo, type PresignOptions, type SignedResponse } from '../ports/object-store.port.js';

/** 8 MiB parts, two in flight: at most ~16 MiB of one upload in memory, whatever its size. */
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;

export interface S3StoreOptions {
  bucket: string;
  serverSideEncryption?: { algorithm: 'AES256' | 'aws:kms'; kmsKeyId?: string };
}

/**
 * Bytes in an S3 bucket (or MinIO), under the same `<orgId>/<fileName>` keys
 * as the fs store. Uploads stream through lib-storage's multipart upload with
 * a bounded part queue; one that fails is aborted, so no parts are left.
 */
export class S3ObjectStore extends ObjectStore {
  constructor(
    private readonly client: S3Client,
    private readonly options: S3StoreOptions,
    /** Configured with the endpoint clients reach the store at (S3_PUBLIC_ENDPOINT), if it differs. */
    private readonly presignClient: S3Client = client,
  ) {
    super();
  }

  async put(key: string, body: Readable, meta: { contentType: string }): Promise<void> {
    assertStorageKey(key);
    const sse = this.options.serverSideEncryption;
    const upload = new Upload({
      client: this.client,
      queueSize: PARTS_IN_FLIGHT,
      partSize: PART_SIZE,
      leavePartsOnError: false,
      params: {
        Bucket: this.options.bucket,
        Key: key,
        Body: body,
        ContentType: meta.contentType,
        ServerSideEncryption: sse?.algorithm as ServerSideEncryption | undefined,
        SSEKMSKeyId: sse?.kmsKeyId,
      },
    });
    // With leavePartsOnError false, lib-storage aborts the multipart upload itself on failure.
    await upload.done().catch(storeFailure);
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
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }));
      return { size: out.ContentLength ?? 0, contentType: out.ContentType };
    } catch (e) {
      throw isMissing(e) ? new ObjectNotFoundError() : storeFailure(e);
    }
  }

  presign(key: string, options: PresignOptions): Promise<string> {
    assertStorageKey(key);
    const input = {
      Bucket: this.options.bucket,
      Key: key,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: options.contentDisposition,
    };
    const command = options.method === 'HEAD' ? new HeadObjectCommand(input) : new GetObjectCommand(input);
    // Signing fails only on configuration or credentials (the provider chain), never on the request: a 503.
    return getSignedUrl(this.presignClient, command, { expiresIn: options.expiresInSeconds }).catch((e: unknown) => {
      throw new StorageUnavailableError(`Could not sign a URL for the object store (${(e as Error)?.name})`, { cause: e });
    });
  }

  /** S3 serves its own signed URLs; this service serves none for it. */
  verifySigned(_key: string, _query: Record<string, unknown>, _method: 'GET' | 'HEAD'): SignedResponse {
    throw new ObjectNotFoundError();
  }

  async delete(key: string): Promise<void> {
    assertStorageKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key })).catch(storeFailure);
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
  }
}

/** Only a missing key; a missing bucket is a misconfiguration, not a deleted file. */
function isMissing(e: unknown): boolean {
  const { name } = (e ?? {}) as { name?: string };
  return name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * S3's own failures (service errors carry $metadata) and network failures
 * become a 503; anything else, such as the upload's content failing its
 * checks mid-stream, passes through unchanged.
 */
function storeFailure(e: unknown): never {
  const { $metadata, name, code } = (e ?? {}) as { $metadata?: unknown; name?: string; code?: string };
  if ($metadata || name === 'TimeoutError' || (code && /^E[A-Z]+$/.test(code))) {
    throw new StorageUnavailableError(`The object store failed (${name ?? code})`, { cause: e });
  }
  throw e;
}
