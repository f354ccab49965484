import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { freePort, newOrganizationId, randomSecret, tempDir, testDatabaseUrl } from '../support/environment.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { FHIR_JSON, resourceWith } from '../support/fhir.js';
import { abortUploadMidway, eventually } from '../support/http.js';
import { samples } from '../support/sample-files.js';

/**
 * The built service as a container runs it (LOG_FORMAT=json), through a real
 * flow: every stdout line is one JSON object, what is logged while a request
 * is handled carries that request's id (its X-Request-Id), organization and
 * subject, and no line holds a token, a signed URL, a query string or a
 * file's bytes.
 */

const root = process.cwd();
const main = join(root, 'dist/apps/api/src/main.js');

type LogLine = Record<string, unknown> & { level: string; time: string; msg: string; context?: string; requestId?: string };

let child: ChildProcess;
let database: FaultProxy;
let dataDir: string;
let baseUrl: string;
let stdout = '';
let stderr = '';
const secret = randomSecret();
const org = newOrganizationId();
const subject = `dr-${randomBytes(4).toString('hex')}`;
let token: string;

/** What must never reach the log, gathered as the flow produces it. */
const secrets: string[] = [];
/** The X-Request-Id each step was answered with. */
const ids: Record<string, string> = {};

const lines = () => stdout.split('\n').filter((line) => line.length > 0);
const parsed = () => lines().map((line) => JSON.parse(line) as LogLine);
const accessLine = (requestId: string) => parsed().find((l) => l.context === 'HTTP' && l.requestId === requestId);

async function send(step: string, path: string, init: RequestInit & { bearer?: boolean } = {}): Promise<Response> {
  const { bearer = true, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (bearer) headers.set('Authorization', `Bearer ${token}`);
  const res = await fetch(`${baseUrl}${path}`, { redirect: 'manual', ...rest, headers });
  ids[step] = res.headers.get('x-request-id')!;
  expect(ids[step]).toBeTruthy();
  return res;
}

function uploadForm(bytes: Buffer, name: string, type: string): FormData {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)], { type }), name);
  return form;
}

async function waitUntilReady(): Promise<void> {
  await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`The service exited with ${child.exitCode}: ${stderr}`);
    expect((await fetch(`${baseUrl}/health/ready`)).status).toBe(200);
  }, 60_000);
}

beforeAll(async () => {
  if (!existsSync(main)) await promisify(execFile)('node', ['scripts/ensure-built.mjs'], { cwd: root });
  const db = new URL(testDatabaseUrl());
  database = await startFaultProxy({ host: db.hostname, port: Number(db.port || 5432) });
  db.hostname = database.host;
  db.port = String(database.port);
  dataDir = tempDir('logs-');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: db.toString(),
    DATABASE_TIMEOUT_SECONDS: '1',
    JWT_SECRET: secret,
    LOG_FORMAT: 'json',
    // The most the service ever says: whatever it logs at any level must hold no secret.
    LOG_LEVEL: 'verbose',
    SHUTDOWN_DRAIN_SECONDS: '0',
  };
  child = spawn(process.execPath, [main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  await waitUntilReady();
  token = await new SignJWT({ org_id: org, sub: subject })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(secret));
  secrets.push(token);
  await runFlow();
}, 120_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise((r) => (child?.exitCode !== null ? r(null) : child.once('exit', r)));
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Upload, download, FHIR create, the 307 and its signed URL, a 415, a 401, an aborted upload, a 503. */
async function runFlow(): Promise<void> {
  const content = Buffer.from(`Wound check, contents only the patient may read: ${randomBytes(12).toString('hex')}\n`);
  secrets.push(content.toString().trim());
  const query = `trace=${randomBytes(8).toString('hex')}`;
  secrets.push(query);

  const uploaded = await send('upload', `/files/upload?${query}`, { method: 'POST', body: uploadForm(content, 'note.txt', 'text/plain') });
  expect(uploaded.status).toBe(201);
  const { url } = (await uploaded.json()) as { url: string };

  const downloadId = `client-trace-${randomBytes(4).toString('hex')}`;
  const download = await send('download', `${url}?${query}`, { headers: { 'X-Request-Id': downloadId } });
  expect(download.status).toBe(200);
  expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
  expect(ids.download).toBe(downloadId);

  const created = await send('fhirCreate', '/fhir/DocumentReference', {
    method: 'POST',
    headers: { 'Content-Type': FHIR_JSON },
    body: JSON.stringify(resourceWith('DocumentReference', [{ url }])),
  });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  const redirect = await send('redirect', `/fhir/DocumentReference/${id}/files/content`);
  expect(redirect.status).toBe(307);
  const location = new URL(redirect.headers.get('location')!);
  secrets.push(location.href, location.search.slice(1), location.searchParams.get('signature')!);
  const signed = await fetch(location, { redirect: 'error' });
  expect(signed.status).toBe(200);
  ids.signed = signed.headers.get('x-request-id')!;

  const refused = await send('refused', '/files/upload', { method: 'POST', body: uploadForm(samples.png, 'scan.pdf', 'application/pdf') });
  expect(refused.status).toBe(415);

  const anonymous = await send('anonymous', `/files?${query}`, { bearer: false });
  expect(anonymous.status).toBe(401);

  await abortUploadMidway(baseUrl, token, 64 * 1024, 4 * 1024 * 1024);

  database.set('down');
  try {
    const unavailable = await send('unavailable', url);
    expect(unavailable.status).toBe(503);
  } finally {
    database.set('pass');
  }
  // Access lines are written once each connection's response has closed.
  await eventually(async () => {
    for (const step of Object.keys(ids)) expect(accessLine(ids[step]!)).toBeDefined();
    expect(parsed().some((l) => l.context === 'HTTP' && l.aborted === true)).toBe(true);
  });
}

describe('LOG_FORMAT=json', () => {
  it('writes every stdout line as one JSON object with a level name, an ISO time and a message', () => {
    expect(lines().length).toBeGreaterThan(20);
    for (const line of lines()) {
      const entry = JSON.parse(line) as LogLine;
      expect({ line, level: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(entry.level) }).toEqual({ line, level: true });
      expect(new Date(entry.time).toISOString()).toBe(entry.time);
      expect(typeof entry.msg).toBe('string');
      // A field bound to the request and given again by the line would appear twice in the raw JSON.
      for (const key of ['requestId', 'organizationId', 'subject', 'context']) expect(line.split(`"${key}":`).length).toBeLessThanOrEqual(2);
    }
  });

  it.each([
    ['upload', 'POST', '/files/upload', 201, undefined],
    ['download', 'GET', '/files/:orgId/:fileName', 200, undefined],
    ['fhirCreate', 'POST', '/fhir/:type', 201, undefined],
    ['redirect', 'GET', '/fhir/:type/:id/files/:field', 307, undefined],
    ['refused', 'POST', '/files/upload', 415, 'content_mismatch'],
    ['unavailable', 'GET', '/files/:orgId/:fileName', 503, 'database_unavailable'],
  ])('writes the %s access line with the route pattern, status, reason, duration, request id and principal', (step, method, route, status, reason) => {
    const line = accessLine(ids[step]!);
    expect(line).toMatchObject({ level: 'info', method, route, status, requestId: ids[step], organizationId: org, subject });
    expect(line!.reason).toBe(reason);
    expect(line!.durationMs).toEqual(expect.any(Number));
    expect(line!.path).not.toContain('?');
    expect(line!.aborted).toBeUndefined();
  });

  it('writes the access lines of the signed URL and of a request without a token with no principal', () => {
    expect(accessLine(ids.signed!)).toMatchObject({ method: 'GET', route: '/signed-files/:orgId/:fileName', status: 200 });
    expect(accessLine(ids.anonymous!)).toMatchObject({ method: 'GET', route: '/files', status: 401, path: '/files' });
    expect(accessLine(ids.anonymous!)).not.toHaveProperty('organizationId');
  });

  it('reports an upload whose client went away as aborted, never with a success status', () => {
    const aborted = parsed().filter((l) => l.context === 'HTTP' && l.aborted === true);
    expect(aborted).toEqual([expect.objectContaining({ method: 'POST', route: '/files/upload', organizationId: org })]);
    // The status only if one was written before the connection was found closed, and then a refusal.
    expect(aborted[0]!.status === undefined || Number(aborted[0]!.status) >= 400).toBe(true);
    expect(aborted[0]!.requestId).toEqual(expect.any(String));
  });

  it("ties the application's lines to the request that caused them", () => {
    const stored = parsed().filter((l) => l.context === 'FileStorage' && l.msg.startsWith(`Stored ${org}/`));
    expect(stored).toEqual([expect.objectContaining({ level: 'info', requestId: ids.upload, organizationId: org, subject })]);
    const warning = parsed().find((l) => l.context === 'Errors' && l.msg.startsWith('database_unavailable'));
    expect(warning).toMatchObject({ level: 'warn', requestId: ids.unavailable, organizationId: org, subject });
    // Lines outside any request (start-up) carry no request id.
    expect(parsed().find((l) => l.context === 'Bootstrap')).not.toHaveProperty('requestId');
  });

  it('never logs a token, a signed URL, a query string or the bytes of a file', () => {
    expect(secrets.length).toBeGreaterThanOrEqual(6);
    for (const text of secrets) {
      expect(stdout).not.toContain(text);
      expect(stderr).not.toContain(text);
    }
    expect(stdout).not.toMatch(/authorization|eyJ[A-Za-z0-9_-]{10,}/i);
  });
});
