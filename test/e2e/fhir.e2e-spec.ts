import { createHash } from 'node:crypto';
import request from 'supertest';
import { newOrganizationId, scratchDatabase } from '../support/environment.js';
import {
  attachmentsIn, expectOperationOutcome, FHIR_JSON, FHIR_TYPES, resourceWith, SUBJECT_ELEMENT, type FhirType, type Json,
} from '../support/fhir.js';
import { eventually } from '../support/http.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';


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

const sha1 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');

async function upload(bytes: Buffer, name: string, bearer = token): Promise<Json> {
  const res = await request(t.baseUrl).post('/files/upload').set('Authorization', `Bearer ${bearer}`).attach('file', bytes, name).expect(201);
  return res.body;
}

function fhir(method: 'get' | 'post' | 'put' | 'delete', path: string, bearer = token) {
  return request(t.baseUrl)[method](`/fhir${path}`).set('Authorization', `Bearer ${bearer}`).set('Accept', FHIR_JSON);
}

function post(type: string, body: unknown, bearer = token) {
  return fhir('post', `/${type}`, bearer).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
}

function put(type: string, id: string, body: unknown, headers: Record<string, string> = {}) {
  return fhir('put', `/${type}/${id}`).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(body));
}

/** Parses FHIR JSON whatever its media type (supertest only parses application/json by itself). */
function bodyOf(res: request.Response): Json {
  return JSON.parse(res.text);
}

function expectOutcome(res: request.Response, status: number, text?: RegExp): Json {
  const outcome = expectOperationOutcome(res, status, text);
  expect(outcome.issue.length).toBeGreaterThan(0);
  for (const issue of outcome.issue) expect(issue.severity).toBe('error');
  return outcome;
}

const fileNameOf = (url: string) => url.split('/').pop()!;

describe.each(FHIR_TYPES)('%s', (type: FhirType) => {
  it('lives through create (with subjectId), read, search, update and delete, and its files go with it', async () => {
    const first = await upload(samples.pdf, 'report.pdf');
    // The client's contentType and size are wrong on purpose: the stored file's facts win.
    const created = await post(type, resourceWith(type, [{ url: first.url, contentType: 'image/png', size: 1, title: 'Report' }], 'p-42')).expect(201);
    const resource = bodyOf(created);
    expect(created.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(created.headers.location).toBe(`${t.baseUrl}/fhir/${type}/${resource.id}`);
    expect(created.headers.etag).toBe('W/"1"');
    expect(resource).toMatchObject({ resourceType: type, id: expect.any(String), meta: { versionId: '1', lastUpdated: expect.any(String) } });
    expect(resource.subjectId).toBeUndefined();
    const subjectElement = SUBJECT_ELEMENT[type];
    if (subjectElement) expect(resource[subjectElement]).toEqual({ reference: 'Patient/p-42' });
    expect(attachmentsIn(type, resource)).toEqual([
      { url: first.url, contentType: 'application/pdf', size: samples.pdf.length, hash: sha1(samples.pdf), title: 'Report' },
    ]);

    const read = await fhir('get', `/${type}/${resource.id}`).expect(200);
    expect(bodyOf(read)).toEqual(resource);
    expect(read.headers.etag).toBe('W/"1"');

    const byId = bodyOf(await fhir('get', `/${type}?_id=${resource.id}`).expect(200));
    expect(byId).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(byId.entry[0]).toEqual({ fullUrl: `${t.baseUrl}/fhir/${type}/${resource.id}`, resource, search: { mode: 'match' } });
    if (subjectElement) {
      const param = subjectElement === 'patient' ? 'patient' : 'subject';
      for (const value of ['p-42', 'Patient/p-42']) {
        expect(bodyOf(await fhir('get', `/${type}?${param}=${value}`).expect(200)).total).toBe(1);
      }
      expect(bodyOf(await fhir('get', `/${type}?${param}=someone-else`).expect(200)).total).toBe(0);
    }

    // Replacing the attachment deletes the file nothing links any more.
    const second = await upload(samples.png, 'photo.png');
    const updated = await put(type, resource.id, { ...resourceWith(type, [{ url: second.url }], 'p-42'), id: resource.id }).expect(200);
    expect(bodyOf(updated).meta.versionId).toBe('2');
    expect(updated.headers.etag).toBe('W/"2"');
    expect(attachmentsIn(type, bodyOf(updated))[0]).toMatchObject({ url: second.url, contentType: 'image/png', hash: sha1(samples.png) });
    expect(await t.storedKeys(org)).toEqual([second.key]);

    await fhir('delete', `/${type}/${resource.id}`).expect(204);
    expectOutcome(await fhir('get', `/${type}/${resource.id}`), 404);
    expect(await t.storedKeys(org)).toEqual([]);
    expect(await t.rowsOf(org)).toEqual([]);
  });

  it('stores inline data as a file and keeps only its url', async () => {
    const created = await post(type, resourceWith(type, [{ contentType: 'image/png', data: samples.png.toString('base64'), title: 'scan' }], 'p-1'))
      .expect(201);
    const [attachment] = attachmentsIn(type, bodyOf(created));
    expect(attachment).toEqual({
      url: expect.stringMatching(new RegExp(`^/files/${org}/[0-9a-f]{32}\\.png$`)),
      contentType: 'image/png',
      size: samples.png.length,
      hash: sha1(samples.png),
      title: 'scan',
    });
    expect(JSON.stringify(bodyOf(await fhir('get', `/${type}/${bodyOf(created).id}`).expect(200)))).not.toContain('"data"');
    const download = await request(t.baseUrl).get(attachment.url).set('Authorization', `Bearer ${token}`).buffer(true).expect(200);
    expect(Buffer.compare(download.body, samples.png)).toBe(0);
    expect(download.headers['content-disposition']).toContain('scan.png');
  });

  it('is invisible to another organization: 404 on read, update and delete, absent from search', async () => {
    const file = await upload(samples.pdf, 'report.pdf');
    const id = bodyOf(await post(type, resourceWith(type, [{ url: file.url }], 'p-7')).expect(201)).id;
    const other = await t.tokenFor(newOrganizationId());

    expectOutcome(await fhir('get', `/${type}/${id}`, other), 404);
    expectOutcome(await fhir('delete', `/${type}/${id}`, other), 404);
    expectOutcome(
      await fhir('put', `/${type}/${id}`, other).set('Content-Type', FHIR_JSON).send(JSON.stringify({ ...resourceWith(type, []), id })),
      404,
    );
    expect(bodyOf(await fhir('get', `/${type}?_id=${id}`, other).expect(200))).toMatchObject({ total: 0 });
    expect(bodyOf(await fhir('get', `/${type}`, other).expect(200))).toMatchObject({ total: 0 });
    // Still there for its owner.
    await fhir('get', `/${type}/${id}`).expect(200);
  });

  it("refuses to link another organization's file with 403", async () => {
    const foreign = await upload(samples.pdf, 'report.pdf', await t.tokenFor(newOrganizationId()));
    expectOutcome(await post(type, resourceWith(type, [{ url: foreign.url }], 'p-1')), 403);
    expect(await t.rowsOf(org)).toEqual([]);
  });

  it('refuses an invalid resource with 422 listing every problem', async () => {
    const invalid = { ...resourceWith(type, [{ url: 'https://pacs.example.org/studies/1' }]), notAnElement: true, meta: { lastUpdated: 'x', tag: 5 } };
    const outcome = expectOutcome(await post(type, invalid), 422, /notAnElement/);
    expect(outcome.issue.length).toBeGreaterThanOrEqual(2);
    expect(outcome.issue.find((i: Json) => /notAnElement/.test(i.details.text)).expression).toEqual([`${type}.notAnElement`]);
  });
});

describe('attachments', () => {
  it('keeps an external URL (a PACS) as it was sent', async () => {
    const external = { url: 'https://pacs.example.org/wado?study=1.2.3', contentType: 'application/dicom', title: 'CT' };
    const created = bodyOf(await post('Media', resourceWith('Media', [external], 'p-1')).expect(201));
    expect(created.content).toEqual(external);
  });

  it('accepts absolute URLs under PUBLIC_BASE_URL and stores the relative /files path', async () => {
    const app = await startTestApp({ PUBLIC_BASE_URL: 'https://attachments.example.org/api' });
    try {
      const bearer = await app.tokenFor(org);
      const file = (await request(app.baseUrl).post('/files/upload').set('Authorization', `Bearer ${bearer}`).attach('file', samples.pdf, 'r.pdf'))
        .body as Json;
      const body = resourceWith('DocumentReference', [{ url: `https://attachments.example.org/api${file.url}` }], 'p-1');
      const res = await request(app.baseUrl)
        .post('/fhir/DocumentReference')
        .set('Authorization', `Bearer ${bearer}`)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify(body))
        .expect(201);
      expect(res.headers.location).toMatch(/^https:\/\/attachments\.example\.org\/api\/fhir\/DocumentReference\//);
      expect(bodyOf(res).content[0].attachment).toMatchObject({ url: file.url, size: samples.pdf.length });
    } finally {
      await app.close();
    }
  });

  it.each([
    ['an unknown file', (o: string) => `/files/${o}/0123456789abcdef0123456789abcdef.pdf`, /is not an available file/],
    ['a malformed /files URL', (o: string) => `/files/${o}`, /not a file URL of this service/],
  ])('refuses %s with 422', async (_, url, message) => {
    expectOutcome(await post('DiagnosticReport', resourceWith('DiagnosticReport', [{ url: url(org) }], 'p-1')), 422, message);
  });

  it('refuses a hash that does not match the stored file', async () => {
    const file = await upload(samples.pdf, 'report.pdf');
    const body = resourceWith('DiagnosticReport', [{ url: file.url, hash: sha1(samples.png) }], 'p-1');
    expectOutcome(await post('DiagnosticReport', body), 422, /does not match the stored file/);
  });

  it('checks inline data like any upload: a PNG declared as PDF is 415 and nothing is stored', async () => {
    const body = resourceWith('Media', [{ contentType: 'application/pdf', data: samples.png.toString('base64') }], 'p-1');
    expectOutcome(await post('Media', body), 415, /image\/png/);
    expect(await t.rowsOf(org)).toEqual([]);
    expect(await t.storedKeys(org)).toEqual([]);
  });

  it('removes inline data already stored when a later attachment of the same resource is refused', async () => {
    const body = resourceWith(
      'DiagnosticReport',
      [{ contentType: 'application/pdf', data: samples.pdf.toString('base64') }, { url: `/files/${org}/0123456789abcdef0123456789abcdef.pdf` }],
      'p-1',
    );
    expectOutcome(await post('DiagnosticReport', body), 422);
    expect(await t.rowsOf(org)).toEqual([]);
    expect(await t.storedKeys(org)).toEqual([]);
  });

  it('refuses files linked, or data carried, outside the attachment fields', async () => {
    const file = await upload(samples.pdf, 'report.pdf');
    const patient = { ...resourceWith('Patient', []), contact: [{ name: { family: 'X' }, telecom: [{ system: 'url', value: 'x' }] }], text: undefined };
    const withExtension = {
      ...patient,
      extension: [{ url: 'https://example.org/other', valueAttachment: { url: file.url } }],
    };
    expectOutcome(await post('Patient', withExtension), 422, /can only be linked from Patient\.photo/);
  });

  it('keeps a file linked by two resources until the last one is deleted', async () => {
    const file = await upload(samples.pdf, 'report.pdf');
    const a = bodyOf(await post('DocumentReference', resourceWith('DocumentReference', [{ url: file.url }], 'p-1')).expect(201));
    const b = bodyOf(await post('DiagnosticReport', resourceWith('DiagnosticReport', [{ url: file.url }], 'p-1')).expect(201));
    await fhir('delete', `/DocumentReference/${a.id}`).expect(204);
    expect(await t.storedKeys(org)).toEqual([file.key]);
    await fhir('delete', `/DiagnosticReport/${b.id}`).expect(204);
    expect(await t.storedKeys(org)).toEqual([]);
  });

  it('never leaves a resource linking a deleted file when a link races the release of that file', async () => {
    for (let round = 0; round < 10; round++) {
      const file = await upload(samples.pdf, 'report.pdf');
      const a = bodyOf(await post('DocumentReference', resourceWith('DocumentReference', [{ url: file.url }], 'p-1')).expect(201));
      const [, linking] = await Promise.all([
        fhir('delete', `/DocumentReference/${a.id}`).expect(204),
        post('DiagnosticReport', resourceWith('DiagnosticReport', [{ url: file.url }], 'p-1')),
      ]);
      const stored = await t.storedKeys(org);
      if (linking.status === 201) {
        expect(stored).toEqual([file.key]);
        await fhir('delete', `/DiagnosticReport/${bodyOf(linking).id}`).expect(204);
      } else {
        expectOutcome(linking, 422, /not an available file|being deleted/);
        expect(stored).toEqual([]);
      }
      expect(await t.storedKeys(org)).toEqual([]);
    }
  });

  if (storeProfile() === 's3-clamav') {
    it('scans inline data: EICAR is refused with 422 naming the signature', async () => {
      const eicar = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
      const body = resourceWith('DocumentReference', [{ contentType: 'text/plain', data: eicar.toString('base64') }], 'p-1');
      expectOutcome(await post('DocumentReference', body), 422, /Eicar-Test-Signature/);
      expect(await t.storedKeys(org)).toEqual([]);
    });
  }
});

describe("the product document's examples, pasted as they are", () => {
  // Its bodies verbatim: no resourceType, a flat subjectId, a plain date, and an absolute file URL
  // (on this service's origin instead of the document's api.esus.health).
  it('accepts its DocumentReference example, and keeps its plain date beside the instant R4 requires', async () => {
    const file = await upload(samples.pdf, 'lab-report.pdf');
    const example = `{
    "status": "current",
    "type": {
      "coding": [{
        "system": "http://loinc.org",
        "code": "11502-2",
        "display": "Laboratory report"
      }]
    },
    "subjectId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date": "2026-04-21",
    "content": [{
      "attachment": {
        "contentType": "application/pdf",
        "url": "${t.baseUrl}${file.url}",
        "title": "Lab report Apr 21",
        "size": 245760
      }
    }]
  }`;
    const res = await fhir('post', '/DocumentReference').set('Content-Type', FHIR_JSON).send(example).expect(201);
    const created = bodyOf(res);
    expect(created).toMatchObject({
      resourceType: 'DocumentReference',
      subject: { reference: 'Patient/3fa85f64-5717-4562-b3fc-2c963f66afa6' },
      date: '2026-04-21T00:00:00Z',
      _date: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/originalText', valueString: '2026-04-21' }] },
    });
    // The file is linked, not taken for an external URL: its facts are the stored file's.
    expect(created.content[0].attachment).toMatchObject({ url: file.url, size: samples.pdf.length, hash: sha1(samples.pdf) });
  });

  it('accepts its Media example', async () => {
    const file = await upload(samples.jpeg, 'wound.jpg');
    const example = `{
    "status": "completed",
    "type": {
      "coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/media-type",
        "code": "image"
      }]
    },
    "subjectId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "createdDateTime": "2026-04-21",
    "content": {
      "contentType": "image/jpeg",
      "url": "${t.baseUrl}${file.url}"
    }
  }`;
    const created = bodyOf(await fhir('post', '/Media').set('Content-Type', FHIR_JSON).send(example).expect(201));
    expect(created.subject).toEqual({ reference: 'Patient/3fa85f64-5717-4562-b3fc-2c963f66afa6' });
    expect(created.content).toMatchObject({ url: file.url, contentType: 'image/jpeg', size: samples.jpeg.length });
  });

  it('still refuses a date that does not exist, naming DocumentReference.date', async () => {
    const refused = expectOutcome(await post('DocumentReference', { status: 'current', date: '2026-02-30', content: [{ attachment: { url: 'https://pacs.example/1' } }] }), 422);
    expect(refused.issue.map((i: Json) => i.expression)).toEqual([['DocumentReference.date']]);
  });
});

describe('REST semantics', () => {
  it('serves a public CapabilityStatement naming the six types, List, Binary and AuditEvent, their interactions and search parameters', async () => {
    const res = await request(t.baseUrl).get('/fhir/metadata').expect(200);
    const statement = bodyOf(res);
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
    const binary = statement.rest[0].resource.find((r: Json) => r.type === 'Binary');
    expect(binary.interaction.map((i: Json) => i.code)).toEqual(['read', 'create', 'delete']);
    const [audit, ...resources] = [...statement.rest[0].resource]
      .filter((r: Json) => r.type !== 'Binary')
      .sort((x: Json, y: Json) => (x.type === 'AuditEvent' ? -1 : y.type === 'AuditEvent' ? 1 : 0));
    expect(resources.map((r: Json) => r.type).sort()).toEqual([...FHIR_TYPES, 'List'].sort());
    // The audit trail is read and searched, never written by clients.
    expect(audit).toMatchObject({ type: 'AuditEvent', interaction: [{ code: 'read' }, { code: 'search-type' }] });
    expect(audit.searchParam.map((p: Json) => p.name)).toEqual(['date', 'entity', 'agent', 'patient', 'type', 'subtype', 'outcome']);
    for (const r of resources) {
      expect(r.interaction.map((i: Json) => i.code)).toEqual(['read', 'create', 'update', 'delete', 'search-type']);
      expect(r.searchParam.map((p: Json) => p.name)).toEqual(expect.arrayContaining(['_id', '_lastUpdated']));
    }
    expect(resources.find((r: Json) => r.type === 'Consent').searchParam.map((p: Json) => p.name)).toContain('patient');
    expect(resources.find((r: Json) => r.type === 'List').searchParam.map((p: Json) => p.name)).toEqual(['_id', '_lastUpdated', 'subject', 'patient', 'status', 'code']);
  });

  it('pages search results with _count and next links', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(bodyOf(await post('Patient', resourceWith('Patient', [])).expect(201)).id);
    const first = bodyOf(await fhir('get', '/Patient?_count=2').expect(200));
    expect(first.total).toBe(5);
    const seen: string[] = first.entry.map((e: Json) => e.resource.id);
    let next = first.link.find((l: Json) => l.relation === 'next')?.url;
    while (next) {
      const page = bodyOf(await request(next).get('').set('Authorization', `Bearer ${token}`).expect(200));
      seen.push(...page.entry.map((e: Json) => e.resource.id));
      next = page.link.find((l: Json) => l.relation === 'next')?.url;
    }
    expect(seen).toEqual(ids);
  });

  it('filters by _lastUpdated', async () => {
    const before = bodyOf(await post('Patient', resourceWith('Patient', [])).expect(201));
    await new Promise((r) => setTimeout(r, 20));
    const after = bodyOf(await post('Patient', resourceWith('Patient', [])).expect(201));
    const since = encodeURIComponent(`gt${before.meta.lastUpdated}`);
    const found = bodyOf(await fhir('get', `/Patient?_lastUpdated=${since}`).expect(200));
    expect(found.entry.map((e: Json) => e.resource.id)).toEqual([after.id]);
    const today = new Date().toISOString().slice(0, 10);
    expect(bodyOf(await fhir('get', `/Patient?_lastUpdated=${today}`).expect(200)).total).toBe(2);
    expect(bodyOf(await fhir('get', `/Patient?_lastUpdated=lt${today}`).expect(200)).total).toBe(0);
    expectOutcome(await fhir('get', '/Patient?_lastUpdated=yesterday'), 400);
  });

  it('ignores unknown search parameters unless handling=strict, and refuses unsupported modifiers', async () => {
    await post('Patient', resourceWith('Patient', [])).expect(201);
    const lenient = bodyOf(await fhir('get', '/Patient?family=Doe').expect(200));
    expect(lenient.total).toBe(1);
    expect(lenient.link[0].url).not.toContain('family');
    expectOutcome(await fhir('get', '/Patient?family=Doe').set('Prefer', 'handling=strict'), 400, /Unknown search parameter/);
    expectOutcome(await fhir('get', '/Patient?_id:not=1'), 400, /modifier/);
  });

  it('makes updates and deletes conditional on If-Match: 412 when stale', async () => {
    const created = bodyOf(await post('Patient', resourceWith('Patient', [])).expect(201));
    const body = { ...resourceWith('Patient', []), id: created.id };
    await put('Patient', created.id, body, { 'If-Match': 'W/"1"' }).expect(200);
    expectOutcome(await put('Patient', created.id, body, { 'If-Match': 'W/"1"' }), 412, /version 2/);
    expectOutcome(await fhir('delete', `/Patient/${created.id}`).set('If-Match', 'W/"1"'), 412);
    await fhir('delete', `/Patient/${created.id}`).set('If-Match', 'W/"2"').expect(204);
  });

  it('answers every error under /fhir as an OperationOutcome with the right status', async () => {
    expectOutcome(await request(t.baseUrl).get('/fhir/Patient'), 401);
    expectOutcome(await fhir('get', '/Observation/1'), 404, /Observation/);
    expectOutcome(await fhir('get', '/Patient/does-not-exist'), 404);
    expectOutcome(await fhir('post', '/Patient').set('Content-Type', FHIR_JSON).send('{"resourceType":'), 400);
    expectOutcome(await fhir('post', '/Patient').set('Content-Type', 'text/plain').send('{}'), 415);
    expectOutcome(await post('Patient', [1, 2]), 400);
    expectOutcome(await post('Patient', { resourceType: 'Practitioner' }), 400, /Practitioner/);
    const created = bodyOf(await post('Patient', resourceWith('Patient', [])).expect(201));
    expectOutcome(await put('Patient', created.id, { resourceType: 'Patient', id: 'other' }), 400, /must be the id in the URL/);
    expectOutcome(await put('Patient', 'unknown-id', { resourceType: 'Patient', id: 'unknown-id' }), 404);
    expectOutcome(await post('Patient', { ...resourceWith('Patient', []), gender: 'robot' }), 422, /'robot' is not a code/);
    expectOutcome(await post('Media', { ...resourceWith('Media', [{ url: 'https://x.example/1' }]), subjectId: 'a/b' }), 422, /subjectId/);
    expectOutcome(await post('Patient', { ...resourceWith('Patient', []), subjectId: 'p-1' }), 422, /subjectId/);
    let deep: Json = {};
    const nested = deep;
    for (let i = 0; i < 100; i++) deep = deep.extension = {};
    expectOutcome(await post('Patient', { resourceType: 'Patient', x: nested }), 400, /nested/);
  });

  it('accepts plain application/json and ignores a client-chosen id and meta.versionId on create', async () => {
    const res = await fhir('post', '/Patient')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ ...resourceWith('Patient', []), id: 'mine', meta: { versionId: '7', tag: [{ code: 'x' }] } }))
      .expect(201);
    expect(bodyOf(res).id).not.toBe('mine');
    expect(bodyOf(res).meta).toMatchObject({ versionId: '1', tag: [{ code: 'x' }] });
  });

  it('answers 413 as an OperationOutcome for a body over FHIR_MAX_BODY_BYTES', async () => {
    const app = await startTestApp({ FHIR_MAX_BODY_BYTES: String(64 * 1024) });
    try {
      const bearer = await app.tokenFor(org);
      const big = resourceWith('Media', [{ contentType: 'application/pdf', data: Buffer.alloc(100_000, 0x20).toString('base64') }], 'p-1');
      const res = await request(app.baseUrl).post('/fhir/Media').set('Authorization', `Bearer ${bearer}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(big));
      expectOutcome(res, 413);
      expect(await app.rowsOf(org)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});

describe('List', () => {
  const MHD_LIST_TYPES = 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes';
  const list = (code: Json, extra: Json = {}) => ({
    resourceType: 'List',
    status: 'current',
    mode: 'working',
    code: { coding: [code] },
    subject: { reference: 'Patient/p-7' },
    date: '2026-11-30T10:00:00Z',
    ...extra,
  });

  it('lives through create, read, search by patient and by code (system|code, code, |code, alternatives), update and delete', async () => {
    const document = bodyOf(await post('DocumentReference', resourceWith('DocumentReference', [{ url: 'https://pacs.example/1' }], 'p-7')).expect(201));
    const submissionSet = bodyOf(
      await post('List', list({ system: MHD_LIST_TYPES, code: 'submissionset' }, { entry: [{ item: { reference: `DocumentReference/${document.id}` } }] })).expect(201),
    );
    expect(submissionSet).toMatchObject({ resourceType: 'List', meta: { versionId: '1' }, entry: [{ item: { reference: `DocumentReference/${document.id}` } }] });
    const folder = bodyOf(await post('List', list({ system: MHD_LIST_TYPES, code: 'folder' })).expect(201));
    const local = bodyOf(await post('List', list({ code: 'submissionset' }, { subject: { reference: 'Patient/p-8' } })).expect(201));
    expect(bodyOf(await fhir('get', `/List/${submissionSet.id}`).expect(200))).toEqual(submissionSet);

    const ids = async (query: string) =>
      (bodyOf(await fhir('get', `/List?${query}`).expect(200)).entry ?? []).map((e: Json) => e.resource.id).sort();
    expect(await ids('patient=p-7')).toEqual([submissionSet.id, folder.id].sort());
    expect(await ids('subject=Patient/p-8')).toEqual([local.id]);
    expect(await ids(`code=${encodeURIComponent(`${MHD_LIST_TYPES}|submissionset`)}`)).toEqual([submissionSet.id]);
    expect(await ids('code=submissionset')).toEqual([submissionSet.id, local.id].sort());
    expect(await ids(`code=${encodeURIComponent('|submissionset')}`)).toEqual([local.id]);
    expect(await ids(`code=${encodeURIComponent(`${MHD_LIST_TYPES}|folder,${MHD_LIST_TYPES}|submissionset`)}&patient=p-7`)).toEqual(
      [submissionSet.id, folder.id].sort(),
    );
    expect(await ids('code=nothing-like-it')).toEqual([]);
    expect(await ids('status=current&patient=p-7')).toEqual([submissionSet.id, folder.id].sort());
    expect(await ids('status=retired')).toEqual([]);
    expectOutcome(await fhir('get', `/List?code=${encodeURIComponent('a|b|c')}`), 400, /code must be/);
    // Other types have no code parameter: ignored, or refused when the client asks for strict handling.
    expectOutcome(await fhir('get', '/DocumentReference?code=x').set('Prefer', 'handling=strict'), 400, /Unknown search parameter 'code'/);

    const updated = await put('List', submissionSet.id, { ...submissionSet, title: 'Lab results, 30 Nov' }).expect(200);
    expect(bodyOf(updated)).toMatchObject({ title: 'Lab results, 30 Nov', meta: { versionId: '2' } });
    await fhir('delete', `/List/${submissionSet.id}`).expect(204);
    expectOutcome(await fhir('get', `/List/${submissionSet.id}`), 404);
    expect(await ids('code=submissionset')).toEqual([local.id]);
  });

  it("finds a patient's current documents by patient and status, as IHE MHD ITI-67 asks", async () => {
    const current = bodyOf(await post('DocumentReference', resourceWith('DocumentReference', [{ url: 'https://pacs.example/a' }], 'p-9')).expect(201));
    const old = bodyOf(
      await post('DocumentReference', { ...resourceWith('DocumentReference', [{ url: 'https://pacs.example/b' }], 'p-9'), status: 'superseded' }).expect(201),
    );
    const found = async (query: string) =>
      (bodyOf(await fhir('get', `/DocumentReference?${query}`).expect(200)).entry ?? []).map((e: Json) => e.resource.id).sort();
    expect(await found('patient=p-9&status=current')).toEqual([current.id]);
    expect(await found('patient=p-9&status=current,superseded')).toEqual([current.id, old.id].sort());
    expect(await found('patient=p-10&status=current')).toEqual([]);
  });

  it('has no attachments: no files route, and bytes or files of this service in it are refused, saying where they belong', async () => {
    const created = bodyOf(await post('List', list({ system: MHD_LIST_TYPES, code: 'submissionset' })).expect(201));
    expectOutcome(await fhir('get', `/List/${created.id}/files/content`), 404, /List has no attachments/);

    const stored = await upload(samples.pdf, 'report.pdf');
    const linking = expectOutcome(await post('List', list({ code: 'x' }, { note: [{ text: stored.url }] })), 422);
    expect(JSON.stringify(linking)).toMatch(/Files of this service can only be linked from the attachment field of a resource that has one \(a List has none\)/);
    const carrying = expectOutcome(
      await post('List', list({ code: 'x' }, { extension: [{ url: 'https://example.org/scan', valueAttachment: { contentType: 'application/pdf', data: samples.pdf.toString('base64') } }] })),
      422,
    );
    expect(JSON.stringify(carrying)).toMatch(/Bytes can only be sent as inline data of the attachment field of a resource that has one/);
    expect(bodyOf(await fhir('get', '/List').expect(200)).total).toBe(1);
  });
});

describe('orphan files', () => {
  it('deletes files never linked within ORPHAN_GRACE_HOURS, and keeps linked ones', async () => {
    // Its own database: with a 1.8 s grace, the sweeper would take the files of test files running beside it.
    const database = await scratchDatabase();
    const app = await startTestApp({ ORPHAN_GRACE_HOURS: '0.0005', DATABASE_URL: database.url }); // 1.8 s
    try {
      const bearer = await app.tokenFor(org);
      const send = (bytes: Buffer, name: string) =>
        request(app.baseUrl).post('/files/upload').set('Authorization', `Bearer ${bearer}`).attach('file', bytes, name).expect(201);
      const orphan = (await send(samples.pdf, 'orphan.pdf')).body as Json;
      const linked = (await send(samples.png, 'linked.png')).body as Json;
      await request(app.baseUrl)
        .post('/fhir/Patient')
        .set('Authorization', `Bearer ${bearer}`)
        .set('Content-Type', FHIR_JSON)
        .send(JSON.stringify(resourceWith('Patient', [{ url: linked.url }])))
        .expect(201);
      await eventually(async () => expect(await app.storedKeys(org)).toEqual([linked.key]), 15_000);
      expect(await app.rowsOf(org)).toEqual([{ file_name: fileNameOf(linked.url), status: 'available' }]);
      expect(fileNameOf(orphan.url)).not.toBe(fileNameOf(linked.url));
    } finally {
      await app.close();
      await database.drop();
    }
  });
});
