import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { startClamd } from '../support/clamd.js';
import { newOrganizationId } from '../support/environment.js';
import { mp4OfSize, samples } from '../support/sample-files.js';
import { abortUploadMidway, eventually } from '../support/http.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
const TEST_FILES = '/usr/share/clamav-testfiles';

let t: TestApp;
let org: string;
let token: string;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());
beforeEach(async () => {
  org = newOrganizationId();
  token = await t.tokenFor(org);
});

const upload = (app: TestApp, bytes: Buffer, filename: string, bearer = token) =>
  request(app.baseUrl).post('/files/upload').set('Authorization', `Bearer ${bearer}`).attach('file', bytes, { filename });

async function expectNothingStored(app: TestApp, organizationId: string): Promise<void> {
  expect(await app.rowsOf(organizationId)).toEqual([]);
  expect(await app.storedKeys(organizationId)).toEqual([]);
}

describe('uploads scanned by clamd, stored in S3', () => {
  it('stores a clean file under the organization prefix with scan status clean and the engine', async () => {
    const res = await upload(t, samples.pdf, 'lab-report.pdf').expect(201);
    expect(res.body.scanStatus).toBe('clean');
    expect(await t.storedKeys(org)).toEqual([res.body.key]);
    const download = await request(t.baseUrl).get(res.body.url).set('Authorization', `Bearer ${token}`).buffer(true).expect(200);
    expect(Buffer.compare(download.body as Buffer, samples.pdf)).toBe(0);
  });

  it('refuses EICAR sent as a text file with 422 naming the signature, and keeps nothing', async () => {
    const res = await upload(t, EICAR, 'notes.txt').expect(422);
    expect(res.body).toMatchObject({ statusCode: 422, code: 'infected_file', message: expect.stringContaining('Eicar-Test-Signature') });
    await expectNothingStored(t, org);
  });

  it('never stores any file of the clamav-testfiles set (422, or 415 where the type check refuses first)', async () => {
    const files = readdirSync(TEST_FILES);
    expect(files.length).toBeGreaterThan(40);
    const statuses: Record<string, number> = {};
    for (const name of files) {
      const res = await upload(t, readFileSync(join(TEST_FILES, name)), name);
      statuses[name] = res.status;
    }
    expect(Object.entries(statuses).filter(([, status]) => status !== 422 && status !== 415)).toEqual([]);
    expect(statuses['clam.pdf']).toBe(422);
    await expectNothingStored(t, org);
  });

  it('refuses the clamav-testfiles executable disguised as a PDF', async () => {
    await upload(t, readFileSync(join(TEST_FILES, 'clam.exe')), 'scan.pdf').expect(415);
    await expectNothingStored(t, org);
  });

  it('scans a 50 MB upload completely (StreamMaxLength covers the limit)', async () => {
    const res = await upload(t, mp4OfSize(52_428_800), 'procedure.mp4').expect(201);
    expect(res.body.scanStatus).toBe('clean');
  });

  it('leaves no object when the client aborts mid-upload', async () => {
    await abortUploadMidway(t.baseUrl, token, 12_000_000, 30_000_000);
    await eventually(() => expectNothingStored(t, org));
  });
});

describe('when clamd goes away', () => {
  it('answers 503 with Retry-After, stores nothing and reports the scanner down in readiness', async () => {
    const clamd = await startClamd();
    const app = await startTestApp({ CLAMAV_PORT: String(clamd.port) });
    try {
      const bearer = await app.tokenFor(org);
      await upload(app, samples.png, 'wound.png', bearer).expect(201);

      await clamd.stop();
      const res = await upload(app, samples.png, 'wound.png', bearer).expect(503);
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.body).toMatchObject({ statusCode: 503, code: 'scanner_unavailable' });
      expect(await app.rowsOf(org)).toHaveLength(1);
      expect(await app.storedKeys(org)).toHaveLength(1);

      const ready = await request(app.baseUrl).get('/health/ready').expect(503);
      expect(ready.body.details.scanner).toEqual({ status: 'down' });
    } finally {
      await app.close();
      await clamd.stop();
    }
  });
});

describe('a clamd that answers before it has read the whole file', () => {
  it('is not taken for a clean verdict: 503 at once over HTTP, nothing stored, for a 5 MiB upload', async () => {
    // Reads the command and the first chunk, answers "stream: OK" and closes: a clean verdict on part of the file.
    const early = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('stream: OK\0'));
    });
    await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
    const app = await startTestApp({ CLAMAV_PORT: String((early.address() as AddressInfo).port) });
    try {
      const started = Date.now();
      const res = await upload(app, mp4OfSize(5 * 1024 * 1024), 'procedure.mp4', await app.tokenFor(org));
      expect(res.status).toBe(503);
      expect(res.body.code).toMatch(/^(scan_incomplete|scanner_unavailable)$/);
      expect(Date.now() - started).toBeLessThan(10_000);
      await expectNothingStored(app, org);
    } finally {
      await app.close();
      early.close();
    }
  });
});
