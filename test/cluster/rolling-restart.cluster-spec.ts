import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { SignJWT } from 'jose';
import pg from 'pg';
import { startClamd, type Clamd } from '../support/clamd.js';
import { freePort, newOrganizationId, randomSecret, scratchDatabase, tempDir } from '../support/environment.js';
import { startHaproxy, type LoadBalancer } from '../support/haproxy.js';
import { s3Server } from '../support/s3.js';
import { mp4OfSize } from '../support/sample-files.js';
import { mp4With, sendUpload } from '../support/upload-client.js';

/**
 * The closest thing to a cluster these machines allow: three replicas of the
 * built service with the production overlay's settings (NODE_ENV=production,
 * S3 on the RGW, a real Postgres, every upload scanned by a real clamd, no
 * migration at start), behind haproxy standing in for the Service and the
 * Ingress, under continuous traffic, restarted one after the other with
 * SIGTERM. Every request must end in success, or in a 503 with Retry-After
 * that the client retries; afterwards every file and every link must be whole.
 */

const REPLICAS = 3;
const WORKERS = 6;
const WARM_UP_MS = 4000;
const AFTER_RESTARTS_MS = 4000;
/** Short enough that the replicas' orphan sweepers run, concurrently, during the test (every ~2.7 s). */
const ORPHAN_GRACE_HOURS = '0.003';
const SIZES = [1, 3, 8, 13, 20].map((mib) => mp4OfSize(mib * 1024 * 1024));

interface Replica {
  port: number;
  child: ChildProcess;
}

let database: { url: string; drop(): Promise<void> };
let clamd: Clamd;
let balancer: LoadBalancer;
let bucket: string;
let env: Record<string, string>;
const replicas: Replica[] = [];
/** Each replica's log lines, across its restarts. */
const logs: string[][] = Array.from({ length: REPLICAS }, () => []);

function startReplica(index: number, port: number): Replica {
  const child = spawn(process.execPath, ['dist/apps/api/src/main.js'], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => logs[index]!.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => logs[index]!.push(d.toString()));
  return { port, child };
}

async function ready(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`replica on ${port} not ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  database = await scratchDatabase();
  clamd = await startClamd();
  bucket = await s3Server().createBucket();
  const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()));
  const balancerPort = await freePort();
  env = {
    PATH: process.env.PATH!,
    ...s3Server().env,
    NODE_ENV: 'production',
    LOG_FORMAT: 'json',
    DATABASE_URL: database.url,
    MIGRATE_ON_START: 'false',
    STORAGE_DRIVER: 's3',
    S3_BUCKET: bucket,
    AWS_ENDPOINT_URL_S3: s3Server().endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    CLAMAV_HOST: '127.0.0.1',
    CLAMAV_PORT: String(clamd.port),
    SCAN_REQUIRED: 'true',
    PUBLIC_BASE_URL: `http://127.0.0.1:${balancerPort}`,
    TRUST_PROXY: 'true',
    JWT_SECRET: randomSecret(),
    DATA_DIR: tempDir('replica-'),
    // Longer than haproxy takes to see the readiness fail (two checks 400 ms apart).
    SHUTDOWN_DRAIN_SECONDS: '3',
    ORPHAN_GRACE_HOURS,
  };
  // The migration Job of a rollout, before any replica starts.
  await promisify(execFile)(process.execPath, ['dist/apps/api/src/migrate.js'], { env });
  for (const [i, port] of ports.entries()) replicas.push(startReplica(i, port));
  await Promise.all(ports.map((p) => ready(p)));
  // In front of replicas that are up, as a Service is in front of ready pods.
  balancer = await startHaproxy(balancerPort, ports);
}, 120_000);

afterAll(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  // Hundreds of megabytes: the test run's S3 server keeps its data in memory.
  if (bucket) await s3Server().emptyBucket(bucket);
  await balancer?.stop();
  await clamd?.stop();
  await database?.drop();
});

/** What the clients saw: every final answer by operation and status, the 503s they retried, and errors. */
class Tally {
  readonly answers = new Map<string, number>();
  retried503 = 0;
  readonly failures: string[] = [];

  count(op: string, status: number | string): void {
    const key = `${op} ${status}`;
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
  }
}

it('restarts every replica under traffic with no failed request and nothing lost', async () => {
  const tally = new Tally();
  const org = newOrganizationId();
  const token = await new SignJWT({ org_id: org }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('30m').sign(new TextEncoder().encode(env.JWT_SECRET));
  const auth = { Authorization: `Bearer ${token}` };
  let running = true;

  /** A client that honours Retry-After on 503 (at most 1 s here), as the README asks. */
  async function call(op: string, send: () => Promise<Response>, expected: number[]): Promise<Response | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      let res: Response;
      try {
        res = await send();
      } catch (e) {
        tally.failures.push(`${op}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
        tally.count(op, 'network error');
        return undefined;
      }
      if (res.status === 503 && res.headers.get('retry-after')) {
        tally.retried503++;
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, Math.min(Number(res.headers.get('retry-after')) * 1000, 1000)));
        continue;
      }
      tally.count(op, res.status);
      if (!expected.includes(res.status)) tally.failures.push(`${op}: ${res.status} ${await res.clone().text()}`);
      return res;
    }
    tally.failures.push(`${op}: still 503 after 20 attempts`);
    return undefined;
  }

  async function worker(n: number): Promise<void> {
    for (let i = 0; running; i++) {
      const bytes = SIZES[(n + i) % SIZES.length]!;
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'video/mp4' }), 'procedure.mp4');
      const uploaded = await call('upload', () => fetch(`${balancer.url}/files/upload`, { method: 'POST', headers: auth, body: form }), [201]);
      if (uploaded?.status !== 201) continue;
      const file = (await uploaded.json()) as { url: string; sha256: string };
      // One upload in five is never linked: the orphan sweepers take it once ORPHAN_GRACE_HOURS has passed.
      if (i % 5 === 4) continue;
      const created = await call(
        'create',
        () =>
          fetch(`${balancer.url}/fhir/DocumentReference`, {
            method: 'POST',
            headers: { ...auth, 'Content-Type': 'application/fhir+json' },
            body: JSON.stringify({ status: 'current', subjectId: `p-${n}`, content: [{ attachment: { url: `${balancer.url}${file.url}` } }] }),
          }),
        [201],
      );
      if (created?.status !== 201) continue;
      const { id } = (await created.json()) as { id: string };
      const redirect = await call('307', () => fetch(`${balancer.url}/fhir/DocumentReference/${id}/files/content`, { headers: auth, redirect: 'manual' }), [307]);
      if (redirect?.status === 307) {
        const signed = await call('signed URL', () => fetch(redirect.headers.get('location')!), [200]);
        if (signed?.status === 200) {
          const hash = createHash('sha256').update(Buffer.from(await signed.arrayBuffer())).digest('hex');
          if (hash !== file.sha256) tally.failures.push(`signed URL: other bytes than uploaded for ${file.url}`);
        }
      }
      const download = await call('download', () => fetch(`${balancer.url}${file.url}`, { headers: auth }), [200]);
      if (download?.status === 200 && (await download.arrayBuffer()).byteLength !== bytes.length) tally.failures.push(`download: short ${file.url}`);
      if (i % 3 === 0) {
        await call('delete resource', () => fetch(`${balancer.url}/fhir/DocumentReference/${id}`, { method: 'DELETE', headers: auth }), [204]);
        await call('file gone with it', () => fetch(`${balancer.url}${file.url}`, { headers: auth }), [404]);
      }
    }
  }

  const workers = Array.from({ length: WORKERS }, (_, n) => worker(n));
  await new Promise((r) => setTimeout(r, WARM_UP_MS));
  const drains: number[] = [];
  const slowUploads: Array<Promise<number>> = [];
  for (const [i, replica] of replicas.entries()) {
    // An upload that started just before SIGTERM and outlasts the drain: the replica must finish it.
    slowUploads.push(
      sendUpload(`http://127.0.0.1:${replica.port}`, { fileName: 'slow.mp4', contentType: 'video/mp4', size: 8 * 1024 * 1024, content: mp4With() }, {
        token,
        pace: { bytesPerSecond: 1.5 * 1024 * 1024 },
      }).then((res) => res.status),
    );
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const exited = new Promise<number | null>((r) => replica.child.once('exit', (code) => r(code)));
    replica.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    drains.push(Date.now() - started);
    replicas[i] = startReplica(i, replica.port);
    await ready(replica.port);
    // haproxy takes it back after two passing checks.
    await new Promise((r) => setTimeout(r, 1000));
  }
  await new Promise((r) => setTimeout(r, AFTER_RESTARTS_MS));
  running = false;
  await Promise.all(workers);
  // Stopped as a scale-down would, so that the sweepers leave the snapshot below alone.
  await Promise.all(
    replicas.map(async (r) => {
      const exited = new Promise<number | null>((done) => r.child.once('exit', (code) => done(code)));
      r.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }),
  );

  // What the store and the database hold must agree, file by file.
  const db = new pg.Client({ connectionString: database.url });
  await db.connect();
  try {
    const rows = (await db.query('SELECT file_name, status, size, sha256 FROM stored_files WHERE organization_id = $1', [org])).rows as Array<{
      file_name: string;
      status: string;
      size: string;
      sha256: string;
    }>;
    const s3 = s3Server().client;
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }))).Contents ?? []).map((o) => o.Key!);
    const dangling = (
      await db.query(
        `SELECT l.file_name FROM fhir_file_links l LEFT JOIN stored_files f
           ON f.organization_id = l.organization_id AND f.file_name = l.file_name AND f.status = 'available'
         WHERE l.organization_id = $1 AND f.file_name IS NULL`,
        [org],
      )
    ).rows;
    const sweptByReplica = logs.map((lines) => lines.join('').split('no resource linked it within ORPHAN_GRACE_HOURS').length - 1);
    // Requests still in flight when each replica stopped accepting connections, which it let finish.
    const inFlightAtClose = logs.flatMap((lines) => [...lines.join('').matchAll(/waiting for (\d+) request\(s\) in flight/g)].map((m) => Number(m[1])));
    const summary = {
      answers: Object.fromEntries([...tally.answers].sort()),
      retried503: tally.retried503,
      failures: tally.failures,
      restarts: drains.length,
      drainMs: drains,
      inFlightAtClose,
      files: rows.length,
      objects: keys.length,
      multipartUploadsLeft: await s3Server().multipartUploads(bucket),
      danglingLinks: dangling.length,
      sweptByReplica,
    };
    mkdirSync('.test-results', { recursive: true });
    writeFileSync('.test-results/rolling-restart.json', JSON.stringify(summary, null, 1));
    process.stdout.write(`rolling restart: ${JSON.stringify(summary)}\n`);

    expect(await Promise.all(slowUploads)).toEqual([201, 201, 201]);
    expect(inFlightAtClose).toEqual([1, 1, 1]);
    expect(tally.failures).toEqual([]);
    expect([...tally.answers.keys()].filter((k) => / 5\d\d$/.test(k))).toEqual([]);
    expect(tally.answers.get('upload 201')).toBeGreaterThan(20);
    expect(rows.filter((r) => r.status !== 'available')).toEqual([]);
    expect(keys.sort()).toEqual(rows.map((r) => `${org}/${r.file_name}`).sort());
    for (const row of rows) {
      const key = `${org}/${row.file_name}`;
      expect((await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength).toBe(Number(row.size));
      const body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!;
      expect(createHash('sha256').update(Buffer.from(await body.transformToByteArray())).digest('hex')).toBe(row.sha256);
    }
    expect(summary.danglingLinks).toBe(0);
    expect(summary.multipartUploadsLeft).toBe(0);
    // More than one replica's sweeper took never-linked files; none took a linked one (no dangling link above).
    expect(sweptByReplica.filter((n) => n > 0).length).toBeGreaterThan(1);
  } finally {
    await db.end();
  }
}, 240_000);
