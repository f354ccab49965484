import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { jest } from '@jest/globals';
import { PassThrough, Readable, Writable } from 'node:stream';
import { FsObjectStore } from '../../libs/file-storage/src/adapters/fs-object-store.js';
import { FsUrlSigner, InvalidSignedUrlError } from '../../libs/file-storage/src/adapters/fs-url-signer.js';
import { SIGNED_PATH_PREFIX } from '../../libs/file-storage/src/domain/signed-url.js';
import { S3ObjectStore, type S3StoreOptions } from '../../libs/file-storage/src/adapters/s3-object-store.js';
import { S3UrlSigner } from '../../libs/file-storage/src/adapters/s3-url-signer.js';
import {
  EncryptionNotConfirmedError,
  InsufficientStorageError,
  ObjectNotFoundError,
  StorageUnavailableError,
} from '../../libs/file-storage/src/domain/errors.js';
import type { ObjectStore, PresignOptions } from '../../libs/file-storage/src/ports/object-store.port.js';
import { newOrganizationId, tempDir } from '../support/environment.js';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startFaultProxy } from '../support/fault-proxy.js';
import { s3ClientFor, s3Server } from '../support/s3.js';
import { smallDisk } from '../support/small-disk.js';

interface Fetched {
  status: number;
  body: Buffer;
  headers: Record<string, string | undefined>;
}

interface StoreUnderTest {
  store: ObjectStore;
  /** Follows a presigned URL the way a client without credentials would. */
  fetchSigned(url: string, method: 'GET' | 'HEAD', headers?: Record<string, string>): Promise<Fetched>;
  /** Writes started and not finished: temp files, or multipart uploads as ListMultipartUploads reports them. */
  unfinishedWrites(): Promise<number>;
  /** What a crash in the middle of writing `key` leaves behind. */
  leaveUnfinishedWrite(key: string): Promise<void>;
  close(): Promise<void>;
}

async function fsStore(): Promise<StoreUnderTest> {
  const root = join(tempDir(), 'objects');
  const signer = new FsUrlSigner(randomBytes(32).toString('hex'));
  const store = new FsObjectStore(root, signer);
  await store.onModuleInit();
  return {
    store,
    // What the application's signed-URL route does: verify, then stream the object.
    async fetchSigned(url, method) {
      const parsed = new URL(url, 'http://service');
      const key = parsed.pathname.slice(SIGNED_PATH_PREFIX.length);
      try {
        const signed = store.verifySigned(key, Object.fromEntries(parsed.searchParams), method);
        const body = method === 'HEAD' ? Buffer.alloc(0) : await collect(await store.get(key));
        return { status: 200, body, headers: { 'content-type': signed.contentType, 'content-disposition': signed.contentDisposition } };
      } catch (e) {
        if (e instanceof InvalidSignedUrlError) return { status: 403, body: Buffer.alloc(0), headers: {} };
        throw e;
      }
    },
    unfinishedWrites: async () => readdirSync(join(root, '.tmp')).length,
    // The fs store names its temp files after the key: `<orgId>.<fileName>.<uuid>.part`.
    leaveUnfinishedWrite: async (key) => writeFileSync(join(root, '.tmp', `${key.replace('/', '.')}.${randomBytes(4).toString('hex')}.part`), 'partial'),
    close: async () => undefined,
  };
}

interface S3UnderTest extends StoreUnderTest {
  bucket: string;
  client: S3Client;
}

function s3StoreWith(bucket: string, endpoint: string, options: Partial<S3StoreOptions> = {}): S3UnderTest {
  const client = s3ClientFor(endpoint);
  const store = new S3ObjectStore(client, { bucket, timeoutMs: 5000, ...options }, new S3UrlSigner(client, bucket));
  return {
    store,
    bucket,
    client,
    async fetchSigned(url, method, headers = {}) {
      const res = await fetch(url, { method, headers });
      return {
        status: res.status,
        body: Buffer.from(await res.arrayBuffer()),
        headers: { 'content-type': res.headers.get('content-type') ?? undefined, 'content-disposition': res.headers.get('content-disposition') ?? undefined },
      };
    },
    unfinishedWrites: () => s3Server().multipartUploads(bucket),
    async leaveUnfinishedWrite(key) {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1024) }));
    },
    close: async () => client.destroy(),
  };
}

/** The bodies of the part and object uploads a client sends, as the SDK gets them. */
function bodiesSentBy(client: S3Client): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const body = (args.input as { Body?: unknown }).Body;
      if (body instanceof Uint8Array) bodies.push(body);
      return next(args);
    },
    { step: 'initialize', name: 'recordBodies' },
  );
  return bodies;
}

async function s3Store(): Promise<StoreUnderTest> {
  return s3StoreWith(await s3Server().createBucket(), s3Server().endpoint);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A destination that is done with a chunk when it calls its write back, as a socket is (the kernel
 * has the bytes): it copies it. `slow` delays each callback, so the store has to wait for it.
 */
function socketLike(options: { slow?: boolean; failAfter?: number } = {}) {
  const chunks: Buffer[] = [];
  let taken = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      taken += chunk.length;
      if (options.failAfter !== undefined && taken > options.failAfter) return done(new Error('EPIPE: the client went away'));
      if (options.slow) setTimeout(done, 10);
      else done();
    },
  });
  return { sink, received: () => Buffer.concat(chunks) };
}

const keyFor = (ext = 'pdf') => `${newOrganizationId()}/${randomBytes(16).toString('hex')}.${ext}`;
const signed = (method: 'GET' | 'HEAD', expiresInSeconds = 60): PresignOptions => ({
  method,
  expiresInSeconds,
  contentType: 'application/pdf',
  contentDisposition: 'attachment; filename="lab.pdf"',
});

describe.each([
  ['fs', fsStore],
  ['s3', s3Store],
])('ObjectStore contract: %s', (_name, make) => {
  let sut: StoreUnderTest;
  beforeAll(async () => {
    sut = await make();
  });
  afterAll(() => sut.close());

  it('returns what was put, whole, by range, and its size', async () => {
    const key = keyFor();
    const bytes = randomBytes(100_000);
    await sut.store.put(key, Readable.from([bytes.subarray(0, 60_000), bytes.subarray(60_000)]), { contentType: 'application/pdf' });

    expect((await collect(await sut.store.get(key))).equals(bytes)).toBe(true);
    expect((await collect(await sut.store.get(key, { start: 10, end: 19 }))).equals(bytes.subarray(10, 20))).toBe(true);
    expect((await sut.store.head(key)).size).toBe(100_000);
  });

  it('streams a file larger than one multipart part intact', async () => {
    const key = keyFor('mp4');
    const bytes = randomBytes(20 * 1024 * 1024);
    const chunks = Array.from({ length: 20 }, (_, i) => bytes.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    await sut.store.put(key, Readable.from(chunks), { contentType: 'video/mp4' });
    expect((await collect(await sut.store.get(key))).equals(bytes)).toBe(true);
  });

  it('writes what was put into a destination, whole and by ranges across read chunks, and leaves it open', async () => {
    const key = keyFor('mp4');
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    await sut.store.put(key, Readable.from([bytes]), { contentType: 'video/mp4' });
    for (const [range, slow] of [
      [undefined, false],
      [undefined, true],
      [{ start: 1024 * 1024 - 5, end: 3 * 1024 * 1024 + 7 }, true],
      [{ start: bytes.length - 1, end: bytes.length - 1 }, false],
    ] as const) {
      const { sink, received } = socketLike({ slow });
      await sut.store.writeTo(key, sink, range);
      expect(sink.writableEnded).toBe(false);
      expect(received().equals(range ? bytes.subarray(range.start, range.end + 1) : bytes)).toBe(true);
    }
  });

  it('stops writing at the destination\'s first failure, and at its close', async () => {
    const key = keyFor('mp4');
    await sut.store.put(key, Readable.from([randomBytes(8 * 1024 * 1024)]), { contentType: 'video/mp4' });
    const failing = socketLike({ failAfter: 2 * 1024 * 1024 });
    await expect(sut.store.writeTo(key, failing.sink)).rejects.toThrow(/EPIPE/);
    expect(failing.received().length).toBeLessThan(5 * 1024 * 1024);

    const closing = socketLike({ slow: true });
    const writing = sut.store.writeTo(key, closing.sink);
    setTimeout(() => closing.sink.destroy(), 25);
    await expect(writing).rejects.toThrow();
    expect(closing.received().length).toBeLessThan(8 * 1024 * 1024);
  });

  it('reports a missing key as ObjectNotFoundError before writing anything', async () => {
    const { sink, received } = socketLike();
    await expect(sut.store.writeTo(keyFor(), sink)).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(received().length).toBe(0);
  });

  it('reports a missing key as ObjectNotFoundError and deletes idempotently', async () => {
    const key = keyFor();
    await expect(sut.store.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(sut.store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(sut.store.delete(key)).resolves.toBeUndefined();
  });

  it('deletes an object for good', async () => {
    const key = keyFor();
    await sut.store.put(key, Readable.from([Buffer.from('%PDF-1.4 x')]), { contentType: 'application/pdf' });
    await sut.store.delete(key);
    await expect(sut.store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('keeps no object when the body fails mid-way, and nothing at all once removeUnfinished ran, small or multipart', async () => {
    const before = await sut.unfinishedWrites();
    for (const size of [1000, 12 * 1024 * 1024]) {
      const key = keyFor();
      const body = new PassThrough();
      const failure = new Error('client went away');
      body.write(randomBytes(size));
      setTimeout(() => body.destroy(failure), 100);
      await expect(sut.store.put(key, body, { contentType: 'application/pdf' })).rejects.toThrow();
      await expect(sut.store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      // The caller's cleanup: a failed put does not wait for the store to take an abort.
      await sut.store.removeUnfinished(key);
    }
    expect(await sut.unfinishedWrites()).toBe(before);
  });

  it('removes what an interrupted write of a key left behind, and nothing of other keys', async () => {
    const interrupted = keyFor();
    const other = keyFor();
    await sut.leaveUnfinishedWrite(interrupted);
    await sut.leaveUnfinishedWrite(other);
    const before = await sut.unfinishedWrites();
    await sut.store.removeUnfinished(interrupted);
    expect(await sut.unfinishedWrites()).toBe(before - 1);
    await sut.store.removeUnfinished(other);
    expect(await sut.unfinishedWrites()).toBe(before - 2);
    await expect(sut.store.removeUnfinished(other)).resolves.toBeUndefined();
  });

  it('refuses a key that is not <orgId>/<fileId>.<ext>', async () => {
    await expect(sut.store.put('../../etc/passwd', Readable.from([Buffer.from('x')]), { contentType: 'text/plain' })).rejects.toThrow(/malformed/);
    await expect(sut.store.get('org/../../x.pdf')).rejects.toThrow(/malformed/);
  });

  it('presigns GET and HEAD URLs that work without credentials and carry type and disposition', async () => {
    const key = keyFor();
    const bytes = Buffer.from('%PDF-1.7 signed content');
    await sut.store.put(key, Readable.from([bytes]), { contentType: 'application/pdf' });

    const get = await sut.fetchSigned(await sut.store.presign(key, signed('GET')), 'GET');
    expect(get.status).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
    expect(get.headers['content-type']).toBe('application/pdf');
    expect(get.headers['content-disposition']).toBe('attachment; filename="lab.pdf"');

    const head = await sut.fetchSigned(await sut.store.presign(key, signed('HEAD')), 'HEAD');
    expect(head.status).toBe(200);
  });

  it('presigns URLs that stop working once expired', async () => {
    const key = keyFor();
    await sut.store.put(key, Readable.from([Buffer.from('%PDF-1.7 expiring')]), { contentType: 'application/pdf' });
    const url = await sut.store.presign(key, signed('GET', 1));
    await new Promise((r) => setTimeout(r, 2200));
    expect((await sut.fetchSigned(url, 'GET')).status).toBe(403);
  });
});

describe('S3 (Ceph RGW, which checks what it is sent)', () => {
  const server = () => s3Server();

  it('refuses a presigned URL whose signature was changed, and one that also carries a token', async () => {
    const sut = await s3Store();
    const key = keyFor();
    await sut.store.put(key, Readable.from([Buffer.from('%PDF-1.7 tamper')]), { contentType: 'application/pdf' });
    const url = new URL(await sut.store.presign(key, signed('GET')));
    expect((await sut.fetchSigned(url.href, 'GET')).status).toBe(200);

    const signature = url.searchParams.get('X-Amz-Signature')!;
    url.searchParams.set('X-Amz-Signature', signature.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
    expect((await sut.fetchSigned(url.href, 'GET')).status).toBe(403);

    const intact = await sut.store.presign(key, signed('GET'));
    expect((await sut.fetchSigned(intact, 'GET', { Authorization: 'Bearer forwarded-by-mistake' })).status).toBe(400);
    await sut.close();
  });

  it('frees the memory a stored upload was sent from, and keeps the content intact', async () => {
    const sut = s3StoreWith(await server().createBucket(), server().endpoint);
    const bodies = bodiesSentBy(sut.client);
    for (const size of [12 * 1024 * 1024 + 7, 300 * 1024]) {
      bodies.length = 0;
      const key = keyFor('mp4');
      const bytes = randomBytes(size);
      await sut.store.put(key, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { contentType: 'video/mp4' });
      // Three parts or one PutObject, each sent from the upload's one buffer, which is now detached.
      expect(bodies).toHaveLength(size > 5 * 1024 * 1024 ? 3 : 1);
      for (const body of bodies) expect(body.buffer.byteLength).toBe(0);
      expect((await collect(await sut.store.get(key))).equals(bytes)).toBe(true);
    }
    await sut.close();
  });

  it('keeps that memory when a send was retried: the failed attempt may still be writing from it', async () => {
    const sut = s3StoreWith(await server().createBucket(), server().endpoint);
    const bodies = bodiesSentBy(sut.client);
    // The first part's first attempt reaches the store, then fails as a 500 would, and the SDK retries it.
    let failed = false;
    sut.client.middlewareStack.add(
      (next, context) => async (args) => {
        const answer = await next(args);
        if (context.commandName !== 'UploadPartCommand' || failed) return answer;
        failed = true;
        throw Object.assign(new Error('We encountered an internal error. Please try again.'), {
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        });
      },
      { step: 'deserialize', name: 'failFirstPartOnce' },
    );
    const key = keyFor('mp4');
    const bytes = randomBytes(12 * 1024 * 1024);
    await sut.store.put(key, Readable.from([bytes]), { contentType: 'video/mp4' });
    expect(failed).toBe(true);
    expect(bodies).toHaveLength(3);
    for (const body of bodies) expect(body.buffer.byteLength).toBe(5 * 1024 * 1024);
    expect((await collect(await sut.store.get(key))).equals(bytes)).toBe(true);
    await sut.close();
  });

  it('reports a missing bucket as a failing store (503), not as a missing object', async () => {
    const sut = s3StoreWith('no-such-bucket', server().endpoint);
    await expect(sut.store.get(keyFor())).rejects.toBeInstanceOf(StorageUnavailableError);
    await sut.close();
  });

  it('reports a URL that cannot be signed (no credentials) as a failing store (503)', async () => {
    const client = new S3Client({
      endpoint: server().endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: async () => Promise.reject(new Error('no credentials in the chain')),
    });
    const store = new S3ObjectStore(client, { bucket: 'any', timeoutMs: 5000 }, new S3UrlSigner(client, 'any'));
    await expect(store.presign(keyFor(), signed('GET'))).rejects.toBeInstanceOf(StorageUnavailableError);
    client.destroy();
  });

  it('signs URLs for the host clients reach (S3_PUBLIC_ENDPOINT), while the service talks to its own', async () => {
    const bucket = await server().createBucket();
    const publicEndpoint = server().endpoint.replace('127.0.0.1', 'localhost');
    const internal = s3ClientFor(server().endpoint);
    const forClients = s3ClientFor(publicEndpoint);
    const store = new S3ObjectStore(internal, { bucket, timeoutMs: 5000 }, new S3UrlSigner(forClients, bucket));
    const key = keyFor();
    await store.put(key, Readable.from([Buffer.from('%PDF-1.7 public')]), { contentType: 'application/pdf' });
    const url = await store.presign(key, signed('GET'));
    expect(url.startsWith(`${publicEndpoint}/${bucket}/`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('%PDF-1.7 public');
    internal.destroy();
    forClients.destroy();
  });

  describe('server-side encryption (S3_SSE)', () => {
    it('refuses, and removes, an object the store accepted without confirming AES256', async () => {
      // RGW without a default key answers 200 and stores plaintext, saying nothing about encryption.
      const sut = s3StoreWith(await server().createBucket(), server().endpoint, { serverSideEncryption: { algorithm: 'AES256' } });
      for (const size of [1000, 12 * 1024 * 1024]) {
        const key = keyFor();
        await expect(sut.store.put(key, Readable.from([randomBytes(size)]), { contentType: 'application/pdf' })).rejects.toBeInstanceOf(
          EncryptionNotConfirmedError,
        );
        const listed = await sut.client.send(new ListObjectsV2Command({ Bucket: sut.bucket, Prefix: key }));
        expect(listed.Contents ?? []).toEqual([]);
      }
      expect(await sut.unfinishedWrites()).toBe(0);
      await sut.close();
    });

    it('keeps an object the store confirms encrypted with aws:kms, small or multipart', async () => {
      const sut = s3StoreWith(await server().createBucket(), server().endpoint, {
        serverSideEncryption: { algorithm: 'aws:kms', kmsKeyId: 'testkey-1' },
      });
      for (const size of [1000, 12 * 1024 * 1024]) {
        const key = keyFor();
        const bytes = randomBytes(size);
        await sut.store.put(key, Readable.from([bytes]), { contentType: 'application/pdf' });
        const head = await sut.client.send(new HeadObjectCommand({ Bucket: sut.bucket, Key: key }));
        expect(head.ServerSideEncryption).toBe('aws:kms');
        expect((await collect(await sut.store.get(key))).equals(bytes)).toBe(true);
      }
      await sut.close();
    });
  });

  describe('a store that fails mid-upload', () => {
    it.each([
      ['dies (connections reset)', 'down' as const],
      ['stops answering', 'hang' as const],
    ])('%s: the write fails as a 503 within a bounded time, and nothing is kept once it is back', async (_case, mode) => {
      const bucket = await server().createBucket();
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(server().endpoint).port) });
      const client = new S3Client({
        endpoint: `http://127.0.0.1:${proxy.port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: server().env.AWS_ACCESS_KEY_ID!, secretAccessKey: server().env.AWS_SECRET_ACCESS_KEY! },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: { connectionTimeout: 1000, requestTimeout: 2000, throwOnRequestTimeout: true },
      });
      const store = new S3ObjectStore(client, { bucket, timeoutMs: 2000 }, new S3UrlSigner(client, bucket));
      const bodies = bodiesSentBy(client);
      const key = keyFor('mp4');
      const body = new PassThrough();
      const started = performance.now();
      const write = store.put(key, body, { contentType: 'video/mp4' });
      // Past the first 5 MiB part, so a multipart upload is under way when the store fails.
      for (let i = 0; i < 10; i++) body.write(randomBytes(1024 * 1024));
      while (bodies.length === 0 && performance.now() - started < 10_000) await new Promise((r) => setTimeout(r, 10));
      proxy.set(mode);
      for (let i = 0; i < 10; i++) body.write(randomBytes(1024 * 1024));
      body.end();
      await expect(write).rejects.toBeInstanceOf(StorageUnavailableError);
      expect(performance.now() - started).toBeLessThan(20_000);
      // A request given up on may still be writing from the part buffer: it is left to the collector, not freed.
      expect(bodies.length).toBeGreaterThan(0);
      for (const sent of bodies) expect(sent.buffer.byteLength).toBe(5 * 1024 * 1024);

      proxy.set('pass');
      // An abort the dead store could not take is what the unfinished-upload sweeper cleans up.
      await store.removeUnfinished(key);
      expect(await server().multipartUploads(bucket)).toBe(0);
      await expect(store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      client.destroy();
      await proxy.close();
    }, 60_000);
  });
});

describe('fs store on a full disk', () => {
  it('refuses the write as insufficient storage, keeps no partial file, and still serves what it has', async () => {
    const disk = await smallDisk(8 * 1024 * 1024);
    try {
      const store = new FsObjectStore(join(disk.dir, 'objects'), new FsUrlSigner('k'.repeat(40)));
      await store.onModuleInit();
      const kept = keyFor();
      await store.put(kept, Readable.from([Buffer.from('%PDF-1.7 kept')]), { contentType: 'application/pdf' });
      const key = keyFor('mp4');
      await expect(store.put(key, Readable.from(Array.from({ length: 12 }, () => randomBytes(1024 * 1024))), { contentType: 'video/mp4' }))
        .rejects.toBeInstanceOf(InsufficientStorageError);
      expect(readdirSync(join(disk.dir, 'objects', '.tmp'))).toEqual([]);
      await expect(store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect((await collect(await store.get(kept))).toString()).toBe('%PDF-1.7 kept');
    } finally {
      await disk.remove();
    }
  });
});

describe("fs store: an organization's directory", () => {
  const pdf = (text: string) => Readable.from([Buffer.from(`%PDF-1.7 ${text}`)]);

  async function storeWithSyncs(root = join(tempDir(), 'objects')): Promise<{ root: string; store: FsObjectStore; synced: string[] }> {
    const store = new FsObjectStore(root, new FsUrlSigner('k'.repeat(40)));
    await store.onModuleInit();
    const synced: string[] = [];
    // Watched, not replaced: every sync still happens.
    const watched = store as unknown as { syncDirectory(path: string): Promise<void> };
    const sync = watched.syncDirectory.bind(store);
    jest.spyOn(watched, 'syncDirectory').mockImplementation((path) => {
      synced.push(path);
      return sync(path);
    });
    return { root, store, synced };
  }

  it('is made by its first file, synced into the root once per process, and synced after every file', async () => {
    const { root, store, synced } = await storeWithSyncs();
    const first = keyFor();
    const organization = first.split('/')[0]!;
    await store.put(first, pdf('first'), { contentType: 'application/pdf' });
    expect(synced).toEqual([root, join(root, organization)]);
    synced.length = 0;
    const second = `${organization}/${randomBytes(16).toString('hex')}.pdf`;
    await store.put(second, pdf('second'), { contentType: 'application/pdf' });
    expect(synced).toEqual([join(root, organization)]);
    // Another process (a restart, another replica on the volume) syncs it into the root once more.
    const restarted = await storeWithSyncs(root);
    await restarted.store.put(`${organization}/${randomBytes(16).toString('hex')}.pdf`, pdf('third'), { contentType: 'application/pdf' });
    expect(restarted.synced).toEqual([root, join(root, organization)]);
    expect((await collect(await store.get(first))).toString()).toBe('%PDF-1.7 first');
    expect((await collect(await store.get(second))).toString()).toBe('%PDF-1.7 second');
  });

  it('is made, and synced into the root, again when it went missing, and for first files that arrive together', async () => {
    const { root, store, synced } = await storeWithSyncs();
    const gone = keyFor();
    await store.put(gone, pdf('gone'), { contentType: 'application/pdf' });
    await rm(join(root, gone.split('/')[0]!), { recursive: true });
    synced.length = 0;
    await store.put(gone, pdf('again'), { contentType: 'application/pdf' });
    expect(synced).toEqual([root, join(root, gone.split('/')[0]!)]);
    expect((await collect(await store.get(gone))).toString()).toBe('%PDF-1.7 again');

    const organization = newOrganizationId();
    const keys = Array.from({ length: 8 }, () => `${organization}/${randomBytes(16).toString('hex')}.pdf`);
    await Promise.all(keys.map((key, i) => store.put(key, pdf(String(i)), { contentType: 'application/pdf' })));
    for (const [i, key] of keys.entries()) expect((await collect(await store.get(key))).toString()).toBe(`%PDF-1.7 ${i}`);
    expect(readdirSync(join(root, '.tmp'))).toEqual([]);
  });

  it('blocked by a file in its place refuses the write as a failing store (503) and keeps no temp file', async () => {
    const { root, store } = await storeWithSyncs();
    const key = keyFor();
    writeFileSync(join(root, key.split('/')[0]!), 'a file where the directory should be');
    await expect(store.put(key, pdf('blocked'), { contentType: 'application/pdf' })).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(readdirSync(join(root, '.tmp'))).toEqual([]);
  });
});

describe('fs signed URLs', () => {
  it('refuse any change to key, expiry, type, disposition, method or signature', async () => {
    const signer = new FsUrlSigner('k'.repeat(40));
    const key = keyFor();
    const url = new URL(signer.sign(key, signed('GET')), 'http://service');
    const query = Object.fromEntries(url.searchParams);
    expect(signer.verify(key, query, 'GET')).toEqual({ contentType: 'application/pdf', contentDisposition: 'attachment; filename="lab.pdf"' });
    expect(signer.verify(key, query, 'HEAD').contentType).toBe('application/pdf');

    const tampered: Array<[string, Record<string, string>, 'GET' | 'HEAD']> = [
      [keyFor(), query, 'GET'],
      [key, { ...query, expires: String(Number(query.expires) + 3600) }, 'GET'],
      [key, { ...query, type: 'text/html' }, 'GET'],
      [key, { ...query, disposition: 'inline' }, 'GET'],
      [key, { ...query, signature: query.signature!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, 'GET'],
      [key, { ...query, method: 'HEAD' }, 'GET'],
    ];
    for (const [k, q, m] of tampered) expect(() => signer.verify(k, q, m)).toThrow(InvalidSignedUrlError);
    // A repeated parameter (?signature=a&signature=b) arrives as an array: refused, never joined or picked from.
    expect(() => signer.verify(key, { ...query, signature: [query.signature, query.signature] }, 'GET')).toThrow(InvalidSignedUrlError);
    expect(() => signer.verify('../etc/passwd', query, 'GET')).toThrow(InvalidSignedUrlError);

    const headOnly = Object.fromEntries(new URL(signer.sign(key, signed('HEAD')), 'http://service').searchParams);
    expect(() => signer.verify(key, headOnly, 'GET')).toThrow(/not valid for GET/);
  });
});
