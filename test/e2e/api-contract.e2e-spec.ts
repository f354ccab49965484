import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { ApiClient, fhirBody } from '../support/api.js';
import { newOrganizationId } from '../support/environment.js';
import { FHIR_TYPES, PRODUCT_ATTACHMENT_FIELD, resourceWith, type Json } from '../support/fhir.js';
import { pdfOfSize, samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The answers the service really gives, held to the OpenAPI document: each
 * status is declared for its operation, each body validates against the
 * declared schema (JSON Schema 2020-12, as OpenAPI 3.1 says), and each
 * declared header is there. What a generated client trusts, checked.
 */
type Method = 'get' | 'head' | 'post' | 'put' | 'delete';

const doc = JSON.parse(readFileSync('openapi.json', 'utf8')) as Json;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
ajv.addSchema({ $id: 'openapi.json', components: doc.components });

let t: TestApp;
let api: ApiClient;
const org = newOrganizationId();
beforeAll(async () => {
  t = await startTestApp();
  api = await ApiClient.for(t, org);
});
afterAll(() => t.close());

const resolve = (object: Json): Json =>
  typeof object.$ref === 'string' ? resolve(object.$ref.split('/').slice(1).reduce((o: Json, k: string) => o[k.replace('~1', '/')], doc)) : object;

/** Checks one answer against the document's operation; returns its parsed body. */
function conforms(method: Method, path: string, res: request.Response): Json | undefined {
  const operation = doc.paths[path]?.[method];
  if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  const declared = operation.responses[String(res.status)];
  if (!declared) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status}, which it does not declare`);
  const response = resolve(declared);
  for (const name of Object.keys(response.headers ?? {})) {
    if (['Cache-Control', 'Link', 'Range'].includes(name)) continue;
    expect([path, res.status, name, res.headers[name.toLowerCase()] !== undefined]).toEqual([path, res.status, name, true]);
  }
  if (!response.content || method === 'head' || res.status === 304) {
    expect(res.text ?? '').toBe('');
    return undefined;
  }
  const type = (res.headers['content-type'] ?? '').split(';')[0];
  const media = response.content[type] ?? response.content['*/*'];
  if (!media) throw new Error(`${method.toUpperCase()} ${path} ${res.status} answered ${type}; declared ${Object.keys(response.content)}`);
  if (media.schema?.format === 'binary' || !media.schema || Object.keys(media.schema).length === 0) return undefined;
  const body = JSON.parse(res.text) as Json;
  const validate = ajv.compile(typeof media.schema.$ref === 'string' ? { $ref: `openapi.json${media.schema.$ref}` } : media.schema);
  if (!validate(body)) throw new Error(`${method.toUpperCase()} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}`);
  return body;
}

describe('answers as the OpenAPI document declares them', () => {
  it('the schemas are strict enough to refuse what is not the type', () => {
    const documentReference = ajv.compile({ $ref: 'openapi.json#/components/schemas/DocumentReference' });
    expect(documentReference({ resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: '/files/x' } }] })).toBe(true);
    expect(documentReference({ resourceType: 'Patient', status: 'current', content: [{ attachment: {} }] })).toBe(false);
    expect(documentReference({ resourceType: 'DocumentReference', status: 'current', content: [], date: '2026-04-21' })).toBe(false);
    const outcome = ajv.compile({ $ref: 'openapi.json#/components/schemas/OperationOutcome' });
    expect(outcome({ resourceType: 'OperationOutcome', issue: [{ severity: 'fatal-ish', code: 'invalid' }] })).toBe(false);
    const uploaded = ajv.compile({ $ref: 'openapi.json#/components/schemas/UploadedFile' });
    expect(uploaded({ key: 'a/b.pdf', contentType: 'application/pdf' })).toBe(false);
  });

  it('files: upload, list, metadata, HEAD, download, Range, 304, 416, refusals, delete', async () => {
    const auth = { Authorization: `Bearer ${api.token}` };
    const pdf = pdfOfSize(2 * 1024 * 1024);
    const uploaded = conforms('post', '/files/upload', await request(t.baseUrl).post('/files/upload').set(auth).attach('file', pdf, 'lab.pdf'))!;
    const fileUrl = uploaded.url as string;
    const filePath = '/files/{orgId}/{fileName}';
    conforms('get', '/files', await api.get('/files'));
    conforms('get', `${filePath}/metadata`, await api.get(`${fileUrl}/metadata`));
    conforms('head', filePath, await request(t.baseUrl).head(fileUrl).set(auth));
    conforms('get', filePath, await api.get(fileUrl).buffer(true));
    conforms('get', filePath, await api.get(fileUrl).set('Range', 'bytes=0-99').buffer(true));
    const etag = (await api.get(fileUrl).buffer(true)).headers.etag!;
    conforms('get', filePath, await api.get(fileUrl).set('If-None-Match', etag));
    conforms('get', filePath, await api.get(fileUrl).set('Range', `bytes=${pdf.length + 10}-`));
    conforms('head', filePath, await request(t.baseUrl).head(fileUrl.replace(/[0-9a-f]{32}/, '0'.repeat(32))).set(auth));
    conforms('post', '/files/upload', await request(t.baseUrl).post('/files/upload').set(auth).attach('file', samples.png, 'wound.pdf'));
    conforms('post', '/files/upload', await request(t.baseUrl).post('/files/upload').attach('file', samples.png, 'wound.png'));
    conforms('get', filePath, await request(t.baseUrl).get(fileUrl.replace(/^\/files\/[^/]+/, '/files/another-org')).set(auth));
    conforms('delete', filePath, await api.delete(fileUrl));
    conforms('get', filePath, await api.get(fileUrl));
    conforms('get', '/whoami', await api.get('/whoami'));
  });

  it.each(FHIR_TYPES)('%s: create, read, search, update, the 307, stale If-Match, delete, not found', async (type) => {
    const file = await api.upload(samples.png, 'photo.png');
    const sent = resourceWith(type, [{ contentType: file.contentType, url: file.url }], 'patient-1');
    const input = ajv.compile({ $ref: `openapi.json#/components/schemas/${type}Input` });
    if (!input(sent)) throw new Error(`the product-style ${type} does not validate as ${type}Input: ${ajv.errorsText(input.errors)}`);

    const created = conforms('post', `/fhir/${type}`, await api.write('post', `/${type}`, sent))!;
    const one = `/fhir/${type}/{id}`;
    const read = await api.fhir('get', `/${type}/${created.id}`);
    conforms('get', one, read);
    conforms('get', `/fhir/${type}`, await api.fhir('get', `/${type}?_id=${created.id}`));
    conforms('get', `/fhir/${type}`, await api.fhir('get', `/${type}?_lastUpdated=yesterday`));
    const updated = await api.write('put', `/${type}/${created.id}`, { ...fhirBody(read), language: 'en' }, { 'If-Match': read.headers.etag! });
    conforms('put', one, updated);
    conforms('put', one, await api.write('put', `/${type}/${created.id}`, fhirBody(read), { 'If-Match': read.headers.etag! }));
    const field = `/fhir/${type}/{id}/files/${PRODUCT_ATTACHMENT_FIELD[type]}`;
    conforms('get', field, await api.fhir('get', `/${type}/${created.id}/files/${PRODUCT_ATTACHMENT_FIELD[type]}`).redirects(0));
    conforms('get', `${field}/{index}`, await api.fhir('get', `/${type}/${created.id}/files/${PRODUCT_ATTACHMENT_FIELD[type]}/7`));
    conforms('post', `/fhir/${type}`, await api.write('post', `/${type}`, { resourceType: type, unknownElement: true }));
    conforms('delete', one, await api.fhir('delete', `/${type}/${created.id}`));
    conforms('get', one, await api.fhir('get', `/${type}/${created.id}`));
  });

  it('the audit trail: search and read with the audit scope, 403 without it, 404 for an unknown event', async () => {
    await api.get('/files').expect(200); // recorded before it is answered: the trail has at least this
    const auditor = `Bearer ${await t.tokenFor(org, { scope: 'audit/AuditEvent.read' })}`;
    const fhirGet = (path: string, bearer: string) => request(t.baseUrl).get(path).set('Authorization', bearer).set('Accept', 'application/fhir+json');
    const bundle = conforms('get', '/fhir/AuditEvent', await fhirGet('/fhir/AuditEvent?_count=3&outcome=0', auditor).expect(200))!;
    const first = (bundle.entry as Json[])[0]!.resource as Json;
    conforms('get', '/fhir/AuditEvent/{id}', await fhirGet(`/fhir/AuditEvent/${first.id}`, auditor).expect(200));
    conforms('get', '/fhir/AuditEvent/{id}', await fhirGet('/fhir/AuditEvent/00000000-0000-4000-8000-000000000000', auditor).expect(404));
    conforms('get', '/fhir/AuditEvent', await fhirGet('/fhir/AuditEvent', `Bearer ${await t.tokenFor(org)}`).expect(403));
    conforms('get', '/fhir/AuditEvent', await fhirGet('/fhir/AuditEvent?date=xx2026', auditor).expect(400));
  });

  it('the public routes: CapabilityStatement and probes', async () => {
    conforms('get', '/fhir/metadata', await request(t.baseUrl).get('/fhir/metadata'));
    conforms('get', '/health/live', await request(t.baseUrl).get('/health/live'));
    conforms('get', '/health/ready', await request(t.baseUrl).get('/health/ready'));
    conforms('get', '/fhir/DocumentReference', await request(t.baseUrl).get('/fhir/DocumentReference'));
  });
});
