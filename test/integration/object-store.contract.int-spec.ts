import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { FsObjectStore } from '../../libs/file-storage/src/adapters/fs-object-store.js';
import { FsUrlSigner, InvalidSignedUrlError } from '../../libs/file-storage/src/adapters/fs-url-signer.js';
import { SIGNED_PATH_PREFIX } from '../../libs/file-storage/src/domain/signed-url.js';
import { S3ObjectStore } from '../../libs/file-storage/src/adapters/s3-object-store.js';
import { ObjectNotFoundError, StorageUnavailableError } from '../../libs/file-storage/src/domain/errors.js';
import type { ObjectStore, PresignOptions } from '../../libs/file-storage/src/ports/object-store.port.js';
import { newOrganizationId, tempDir } from '../support/environment.js';
import { S3Client } from '@aws-sdk/client-s3';
import { s3rverClient, startS3, type S3Server } from '../support/s3.js';

interface Fetched {
  status: number;
  body: Buffer;
  headers: Record<string, string | undefined>;
}

interface StoreUnderTest {
  store: ObjectStore;
  /** Follows a presigned URL the way a client without credentials would. */
  fetchSigned(url: string, method: 'GET' | 'HEAD'): Promise<Fetched>;
  /** Writes started and not finished: temp files, or multipart uploads not aborted. */
  unfinishedWrites(): Promise<number>;
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
    close: async () => undefined,
  };
}

/** Records the S3 requests of the adapter on their way to s3rver. */
async function recordingProxy(target: string): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

let s3: S3Server;
let proxy: Awaited<ReturnType<typeof recordingProxy>>;

async function s3Store(): Promise<StoreUnderTest> {
  const bucket = await s3.createBucket();
  const client = s3rverClient(proxy.url);
  return {
    store: new S3ObjectStore(client, { bucket }),
    async fetchSigned(url, method) {
      const res = await fetch(url, { method });
      return {
        status: res.status,
        body: Buffer.from(await res.arrayBuffer()),
        headers: { 'content-type': res.headers.get('content-type') ?? undefined, 'content-disposition': res.headers.get('content-disposition') ?? undefined },
      };
    },
    // s3rver implements neither ListMultipartUploads nor AbortMultipartUpload, so count
    // the multipart uploads the adapter started and did not complete or abort.
    unfinishedWrites: async () => {
      const started = proxy.requests.filter((r) => r.startsWith('POST') && r.includes('?uploads')).length;
      const ended = proxy.requests.filter((r) => (r.startsWith('DELETE') || r.startsWith('POST')) && r.includes('uploadId=')).length;
      return started - ended;
    },
    close: async () => client.destroy(),
  };
}

beforeAll(async () => {
  s3 = await startS3();
  proxy = await recordingProxy(s3.endpoint);
});
afterAll(async () => {
  proxy.server.close();
  await s3.stop();
});

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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

  it('leaves nothing behind when the body fails mid-way, small or multipart', async () => {
    for (const size of [1000, 12 * 1024 * 1024]) {
      const key = keyFor();
      const body = new PassThrough();
      const failure = new Error('client went away');
      body.write(randomBytes(size));
      setTimeout(() => body.destroy(failure), 100);
      await expect(sut.store.put(key, body, { contentType: 'application/pdf' })).rejects.toThrow();
      await expect(sut.store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    }
    expect(await sut.unfinishedWrites()).toBe(0);
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

describe('S3 errors', () => {
  it('report a missing bucket as a failing store (503), not as a missing object', async () => {
    const client = s3rverClient(s3.endpoint);
    const store = new S3ObjectStore(client, { bucket: 'no-such-bucket' });
    await expect(store.get(keyFor())).rejects.toBeInstanceOf(StorageUnavailableError);
    client.destroy();
  });

  it('report a URL that cannot be signed (no credentials) as a failing store (503)', async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: async () => Promise.reject(new Error('no credentials in the chain')),
    });
    const store = new S3ObjectStore(client, { bucket: 'any' });
    await expect(store.presign(keyFor(), signed('GET'))).rejects.toBeInstanceOf(StorageUnavailableError);
    client.destroy();
  });
});

describe('S3 with a public endpoint (S3_PUBLIC_ENDPOINT)', () => {
  it('signs URLs for the host clients reach, while the service talks to its own', async () => {
    const bucket = await s3.createBucket();
    const internal = s3rverClient(s3.endpoint);
    const publicEndpoint = s3.endpoint.replace('127.0.0.1', 'localhost');
    const forClients = s3rverClient(publicEndpoint);
    const store = new S3ObjectStore(internal, { bucket }, forClients);
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
