import request from 'supertest';
import { ApiClient, fhirBody } from '../support/api.js';
import { newOrganizationId } from '../support/environment.js';
import { expectOperationOutcome, resourceWith } from '../support/fhir.js';
import { eventually } from '../support/http.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * Postgres going away, or hanging, under every kind of request: each is
 * answered 503 with Retry-After within DATABASE_TIMEOUT_SECONDS (and a
 * little), readiness says so, and everything works again once it is back.
 */

const TIMEOUT_SECONDS = 1;
/** The timeout, a query's answer on top of it, and room for a loaded machine. */
const ANSWER_WITHIN_MS = TIMEOUT_SECONDS * 1000 * 2 + 3000;

let t: TestApp;
let api: ApiClient;
let fileUrl: string;
let resourceId: string;

beforeAll(async () => {
  t = await startTestApp({ DATABASE_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS) }, 'fs', { faults: true });
  api = await ApiClient.for(t, newOrganizationId());
  fileUrl = (await api.upload(samples.pdf, 'report.pdf')).url;
  resourceId = fhirBody(await api.write('post', '/DocumentReference', resourceWith('DocumentReference', [{ url: fileUrl }], 'p-1')).expect(201)).id;
});
afterAll(() => t.close());

const requests: Array<[string, () => request.Test, 'fhir' | 'json']> = [
  ['a download', () => api.get(fileUrl), 'json'],
  ['an attachment 307', () => api.get(`/fhir/DocumentReference/${resourceId}/files/content`), 'fhir'],
  ['a FHIR read', () => api.fhir('get', `/DocumentReference/${resourceId}`), 'fhir'],
  ['a FHIR search', () => api.fhir('get', '/DocumentReference?patient=p-1'), 'fhir'],
  ['a FHIR create that links a file', () => api.write('post', '/DiagnosticReport', resourceWith('DiagnosticReport', [{ url: fileUrl }], 'p-1')), 'fhir'],
  ['a FHIR create with inline data', () => api.write('post', '/Patient', resourceWith('Patient', [{ contentType: 'image/png', data: samples.png.toString('base64') }])), 'fhir'],
  ['a file listing', () => api.get('/files'), 'json'],
  ['a file deletion', () => api.delete(fileUrl), 'json'],
];

describe.each(['down', 'hang'] as const)('Postgres %s', (mode) => {
  afterEach(() => t.faults!.database.set('pass'));

  it.each(requests)('%s is answered 503 with Retry-After in bounded time', async (_name, send, kind) => {
    t.faults!.database.set(mode);
    const started = Date.now();
    const res = await send();
    expect(Date.now() - started).toBeLessThan(ANSWER_WITHIN_MS);
    if (kind === 'fhir') expectOperationOutcome(res, 503);
    else expect(res.body).toMatchObject({ statusCode: 503, code: 'database_unavailable' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('fails readiness while it lasts, and everything works again once it is back', async () => {
    t.faults!.database.set(mode);
    const ready = await request(t.baseUrl).get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.info?.database ?? ready.body.error?.database).toEqual({ status: 'down' });
    t.faults!.database.set('pass');
    await eventually(async () => expect((await request(t.baseUrl).get('/health/ready')).status).toBe(200));
    await api.get(fileUrl).expect(200);
    expect((await api.get(`/fhir/DocumentReference/${resourceId}/files/content`)).status).toBe(307);
  });
});

it('answers a burst of 2,000 concurrent 307s that saturates the pool with 307 or 503, never 500 or silence', async () => {
  // Postgres stalls for the first moments of the burst: every connection of the pool hangs, and the
  // requests queued behind them wait past DATABASE_TIMEOUT_SECONDS for a connection.
  t.faults!.database.set('hang');
  setTimeout(() => t.faults!.database.set('pass'), 1500);
  const statuses = new Map<number, number>();
  await Promise.all(
    Array.from({ length: 2000 }, async () => {
      const res = await api.get(`/fhir/DocumentReference/${resourceId}/files/content`).ok(() => true);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 503) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }),
  );
  expect(Object.fromEntries([...statuses].filter(([s]) => s !== 307 && s !== 503))).toEqual({});
  expect(statuses.get(503)).toBeGreaterThan(0);
  await eventually(async () => expect((await api.get(`/fhir/DocumentReference/${resourceId}/files/content`)).status).toBe(307));
}, 60_000);
