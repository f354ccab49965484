import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import request from 'supertest';
import { startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** Sends raw bytes, half-closes, and returns everything the server answered. */
async function rawExchange(bytes: string): Promise<string> {
  const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString()));
  await new Promise((r) => socket.once('connect', r));
  socket.end(bytes);
  await new Promise((r) => socket.once('close', r));
  return answer;
}

const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));

describe('requests the HTTP parser refuses still get a JSON answer', () => {
  it('a request that is not HTTP: 400 with an id', async () => {
    const raw = await rawExchange('HELLO THERE\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(raw)).toMatchObject({ statusCode: 400, code: 'malformed_request', requestId: expect.any(String) });
  });

  it('a FHIR body cut short by a client that half-closes: 400 OperationOutcome with the request id', async () => {
    const token = await t.tokenFor('org-raw-client');
    const raw = await rawExchange(
      `POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/fhir+json\r\n` +
        `X-Request-Id: cut-short-1\r\nContent-Length: 1000\r\n\r\n{"resourceType":"Patient",`,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/\r\nX-Request-Id: cut-short-1\r\n/i);
    expect(bodyOf(raw)).toMatchObject({ resourceType: 'OperationOutcome', issue: [expect.objectContaining({ code: 'invalid' })] });
  });
});

describe('health', () => {
  it('answers liveness without a token', async () => {
    const res = await request(t.baseUrl).get('/health/live').expect(200);
    expect(res.body.status).toBe('ok');
  });

  it('reports database and storage in readiness', async () => {
    const res = await request(t.baseUrl).get('/health/ready').expect(200);
    expect(res.body.details).toMatchObject({ database: { status: 'up' }, storage: { status: 'up' } });
  });
});

describe('metrics', () => {
  it('exposes Prometheus metrics without a token, labelled by route pattern, never by ids', async () => {
    const org = 'org-metrics-probe';
    await request(t.baseUrl).get(`/files/${org}/${'0'.repeat(32)}.pdf`).set('Authorization', `Bearer ${await t.tokenFor(org)}`).expect(404);
    const res = await request(t.baseUrl).get('/metrics').expect(200);
    expect(res.text).toContain('process_cpu_seconds_total');
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/files\/:orgId\/:fileName",status="404"\} [1-9]/);
    expect(res.text).not.toContain(org);
  });

  it('is not part of the API document', async () => {
    const doc = (await request(t.baseUrl).get('/openapi.json').expect(200)).body;
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });
});

describe('API documentation', () => {
  it('serves openapi.json as checked in', async () => {
    const served = (await request(t.baseUrl).get('/openapi.json').expect(200)).body;
    expect(served).toEqual(JSON.parse(readFileSync('openapi.json', 'utf8')));
  });

  it('asks for a token exactly where the service does: every documented operation, called without one', async () => {
    const doc = (await request(t.baseUrl).get('/openapi.json').expect(200)).body;
    const sample: Record<string, string> = { orgId: 'org-probe', fileName: `${'0'.repeat(32)}.pdf`, id: 'probe', index: '0' };
    const seen: string[] = [];
    for (const [path, item] of Object.entries<Record<string, { security?: unknown[] }>>(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!['get', 'head', 'post', 'put', 'delete'].includes(method)) continue;
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) => sample[name]!);
        const res = await request(t.baseUrl)[method as 'get'](url);
        const open = Array.isArray(operation.security) && operation.security.length === 0;
        seen.push(`${method.toUpperCase()} ${path} ${open ? 'open' : 'token'}`);
        if (open) expect([method, path, res.status]).not.toEqual([method, path, 401]);
        else expect([method, path, res.status]).toEqual([method, path, 401]);
      }
    }
    expect(seen.length).toBeGreaterThan(60);
  });

  it('answers GET / without a token, pointing to the documentation', async () => {
    const res = await request(t.baseUrl).get('/').expect(200);
    expect(res.body).toMatchObject({ docs: '/docs', openapi: '/openapi.json', fhir: '/fhir/metadata' });
  });

  it('serves Swagger UI without a token', async () => {
    const res = await request(t.baseUrl).get('/docs').redirects(1).expect(200);
    expect(res.text).toContain('swagger');
  });
});
