import request from 'supertest';
import { startTestApp, type TestApp } from '../support/test-app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

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
  it('serves an OpenAPI document a generator can build an upload call from', async () => {
    const res = await request(t.baseUrl).get('/openapi.json').expect(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    const upload = doc.paths['/files/upload'].post;
    expect(upload.operationId).toBe('uploadFile');
    expect(upload.requestBody.content['multipart/form-data'].schema).toMatchObject({
      type: 'object',
      required: ['file'],
      properties: { file: { type: 'string', format: 'binary' } },
    });
    expect(Object.keys(upload.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '413', '415', '422']));
    expect(doc.paths['/files/{orgId}/{fileName}'].get.operationId).toBe('downloadFile');
    expect(doc.paths['/files/{orgId}/{fileName}'].delete.operationId).toBe('deleteFile');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.schemas.UploadedFileDto.required).toEqual(expect.arrayContaining(['key', 'contentType', 'size', 'url']));
  });

  it('describes the attachment redirects with distinct operation ids, and leaves signed-URL paths out', async () => {
    const doc = (await request(t.baseUrl).get('/openapi.json').expect(200)).body;
    const first = doc.paths['/fhir/{type}/{id}/files/{field}'].get;
    const at = doc.paths['/fhir/{type}/{id}/files/{field}/{index}'].get;
    expect([first.operationId, at.operationId]).toEqual(['fhirAttachment', 'fhirAttachmentAt']);
    for (const op of [first, at]) {
      expect(op.responses['307'].headers.Location.schema).toMatchObject({ type: 'string', format: 'uri' });
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['307', '401', '404']));
    }
    expect(doc.paths['/whoami'].get.operationId).toBe('whoAmI');
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/signed-files'))).toEqual([]);
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
