import { createHash, randomUUID } from 'node:crypto';
import { Client } from 'fhir-kit-client';
import request from 'supertest';
import { UnfinishedUploadSweeper } from '../../libs/file-storage/src/application/unfinished-upload.sweeper.js';
import { newOrganizationId, scratchDatabase } from '../support/environment.js';
import { eventually } from '../support/http.js';
import { expectOperationOutcome, FHIR_JSON, type Json } from '../support/fhir.js';
import { mp4OfSize, pdfOfSize, samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';

/**
 * Transaction and batch Bundles at POST /fhir, and the IHE MHD flow on them:
 * ITI-65 (Provide Document Bundle, sent with fhir-kit-client), ITI-67 (find
 * the document) and ITI-68 (its bytes at attachment.url, following the 307 on
 * S3). On both stacks, every file scanned by a real clamd. A transaction is
 * all or nothing: whichever entry is refused, and whenever, no resource, no
 * link, no row and no byte of it stays.
 */
const onS3 = storeProfile() === 's3-clamav';
const MiB = 1024 * 1024;
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
const MHD = 'https://profiles.ihe.net/ITI/MHD/StructureDefinition';
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('base64');

let t: TestApp;
let org: string;
let token: string;
let client: Client;

beforeAll(async () => {
  t = await startTestApp({}, storeProfile(), { clamd: true });
}, 60_000);
afterAll(() => t.close());

beforeEach(async () => {
  org = newOrganizationId();
  token = await t.tokenFor(org);
  client = new Client({ baseUrl: `${t.baseUrl}/fhir`, bearerToken: token });
});

const auth = () => ({ Authorization: `Bearer ${token}` });
const urn = () => `urn:uuid:${randomUUID()}`;

function postBundle(bundle: Json, headers: Record<string, string> = {}) {
  return request(t.baseUrl).post('/fhir').set(auth()).set('Content-Type', FHIR_JSON).set(headers).send(JSON.stringify(bundle));
}

/** Everything an organization has: resources, their links to files, file rows and stored objects. */
async function everything(): Promise<{ resources: string[]; links: string[]; rows: string[]; keys: string[] }> {
  const { resources, links } = await t.resourcesOf(org);
  return { resources, links, rows: (await t.rowsOf(org)).map((r) => `${r.file_name} ${r.status}`), keys: await t.storedKeys(org) };
}

async function expectNothingKept(): Promise<void> {
  expect(await everything()).toEqual({ resources: [], links: [], rows: [], keys: [] });
}

/** An ITI-65 Provide Document Bundle (Minimal): SubmissionSet List, DocumentReference, and the document as a Binary. */
function provideDocumentBundle(document: { bytes: Buffer; contentType: string }, patient = 'p-mhd-1') {
  const [list, doc, binary] = [urn(), urn(), urn()];
  return {
    urns: { list, doc, binary },
    bundle: {
      resourceType: 'Bundle',
      type: 'transaction',
      meta: { profile: [`${MHD}/IHE.MHD.Minimal.ProvideBundle`] },
      entry: [
        {
          fullUrl: list,
          resource: {
            resourceType: 'List',
            meta: { profile: [`${MHD}/IHE.MHD.Minimal.SubmissionSet`] },
            extension: [{ url: `${MHD}/ihe-sourceId`, valueIdentifier: { value: 'urn:oid:1.3.6.1.4.1.21367.2026.1' } }],
            identifier: [
              { use: 'usual', system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.3.6.1.4.1.21367.2026.1.1' },
              { use: 'official', system: 'urn:ietf:rfc:3986', value: list },
            ],
            status: 'current',
            mode: 'working',
            code: { coding: [{ system: 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes', code: 'submissionset' }] },
            subject: { reference: `Patient/${patient}` },
            date: '2026-11-30T08:00:00Z',
            entry: [{ item: { reference: doc } }],
          },
          request: { method: 'POST', url: 'List' },
        },
        {
          fullUrl: doc,
          resource: {
            resourceType: 'DocumentReference',
            meta: { profile: [`${MHD}/IHE.MHD.Minimal.DocumentReference`] },
            masterIdentifier: { system: 'urn:ietf:rfc:3986', value: 'urn:oid:1.3.6.1.4.1.21367.2026.1.2' },
            identifier: [{ use: 'official', system: 'urn:ietf:rfc:3986', value: doc }],
            status: 'current',
            subject: { reference: `Patient/${patient}` },
            content: [{ attachment: { contentType: document.contentType, url: binary, title: 'Discharge summary' } }],
          },
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          fullUrl: binary,
          resource: { resourceType: 'Binary', contentType: document.contentType, data: document.bytes.toString('base64') },
          request: { method: 'POST', url: 'Binary' },
        },
      ],
    } as Json,
  };
}

/** GET on attachment.url as an ITI-68 Document Consumer does: with the token, following a 307 to the signed URL without it. */
async function retrieve(url: string): Promise<{ status: number; body: Buffer; contentType: string | null; redirected: boolean }> {
  const absolute = /^https?:/.test(url) ? url : `${t.baseUrl}/fhir/${url}`;
  const first = await fetch(absolute, { headers: auth(), redirect: 'manual' });
  const redirected = first.status === 307;
  const res = redirected ? await fetch(first.headers.get('location')!) : first;
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type'), redirected };
}

describe('IHE MHD', () => {
  it('ITI-65 through fhir-kit-client: stores the submission atomically; ITI-67 finds the document; ITI-68 returns its bytes', async () => {
    const pdf = pdfOfSize(3 * MiB);
    const { bundle, urns } = provideDocumentBundle({ bytes: pdf, contentType: 'application/pdf' });
    const response = (await client.transaction({ body: bundle as never })) as Json;

    expect(response.resourceType).toBe('Bundle');
    expect(response.type).toBe('transaction-response');
    expect(response.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const [listEntry, docEntry, binaryEntry] = response.entry as Json[];
    expect(listEntry!.response.location).toMatch(/^List\/[0-9a-f-]{36}$/);
    expect(docEntry!.response.location).toMatch(/^DocumentReference\/[0-9a-f-]{36}$/);
    expect(binaryEntry!.response.location).toMatch(/^Binary\/[0-9a-f]{32}$/);
    for (const e of response.entry as Json[]) expect(e.response.etag).toBe('W/"1"');

    // urn:uuid links became the assigned ids; the entryUUID identifiers kept their urns.
    const doc = docEntry!.resource;
    expect(doc.content[0].attachment).toEqual({
      contentType: 'application/pdf',
      // A full URL, as ITI-67 asks: the GET on it is ITI-68.
      url: `${t.baseUrl}/fhir/${binaryEntry!.response.location}`,
      title: 'Discharge summary',
      size: pdf.length,
      hash: sha1(pdf),
    });
    expect(doc.identifier[0].value).toBe(urns.doc);
    expect(listEntry!.resource.entry[0].item.reference).toBe(docEntry!.response.location);
    expect(listEntry!.resource.identifier[1].value).toBe(urns.list);
    const binaryId = binaryEntry!.response.location.split('/')[1];
    expect(await t.storedKeys(org)).toEqual([`${org}/${binaryId}.pdf`]);
    expect((await t.rowsOf(org)).map((r) => r.status)).toEqual(['available']);

    // ITI-67: the Consumer sends patient and status.
    const found = (await client.search({ resourceType: 'DocumentReference', searchParams: { patient: 'Patient/p-mhd-1', status: 'current' } })) as Json;
    expect(found.total).toBe(1);
    expect(found.entry[0].resource.id).toBe(doc.id);
    const submission = (await client.search({ resourceType: 'List', searchParams: { patient: 'p-mhd-1', code: 'submissionset' } })) as Json;
    expect(submission.entry.map((e: Json) => e.resource.id)).toEqual([listEntry!.resource.id]);

    // ITI-68: GET on attachment.url; on S3 a 307 to a signed URL, followed without the token.
    const retrieved = await retrieve(found.entry[0].resource.content[0].attachment.url);
    expect(retrieved).toMatchObject({ status: 200, contentType: 'application/pdf', redirected: onS3 });
    expect(retrieved.body.equals(pdf)).toBe(true);
    // And through the attachment route of the DocumentReference.
    const viaRoute = await request(t.baseUrl).get(`/fhir/DocumentReference/${doc.id}/files/content`).set(auth()).expect(307);
    expect((await fetch(new URL(viaRoute.headers.location!, t.baseUrl))).status).toBe(200);
  });

  it.each([
    ['a mistyped Binary (a PDF declared as a PNG)', { bytes: samples.pdf, contentType: 'image/png' }, 415, /declared type/],
    ['an infected Binary (EICAR in a video)', { bytes: Buffer.concat([mp4OfSize(64 * 1024), EICAR]), contentType: 'video/mp4' }, 422, /infected/i],
  ])('refuses a Provide Document Bundle with %s, keeping nothing of it', async (_name, document, status, text) => {
    const { bundle } = provideDocumentBundle(document);
    const res = await postBundle(bundle);
    const outcome = expectOperationOutcome(res, status, text);
    // Which entry: the issue's expression (an OperationOutcome's way of saying where).
    expect(outcome.issue[0].expression).toEqual(['Bundle.entry[2]']);
    await expectNothingKept();
  });
});

describe('a transaction', () => {
  // FHIR_MAX_BODY_BYTES (16 MiB) takes a Binary of about 11 MiB as base64.
  const large = 11 * MiB;

  it.each([
    ['a NUL byte near the end of an 11 MiB text', () => textWithByteAt(large, large - 100, 0), 'text/plain', 415],
    ['a virus near the end of an 11 MiB video', () => Buffer.concat([mp4OfSize(large - EICAR.length - 100), EICAR, Buffer.alloc(100, 0x20)]), 'video/mp4', 422],
  ])('with %s in its Binary is refused and keeps nothing', async (_name, bytes, contentType, status) => {
    const { bundle } = provideDocumentBundle({ bytes: bytes(), contentType });
    expectOperationOutcome(await postBundle(bundle), status);
    await expectNothingKept();
  });

  it('refused for a resource after its Binary was stored removes the Binary again (422)', async () => {
    const { bundle } = provideDocumentBundle({ bytes: pdfOfSize(2 * MiB), contentType: 'application/pdf' });
    bundle.entry[1].resource.status = 'not-a-status';
    const outcome = expectOperationOutcome(await postBundle(bundle), 422);
    expect(outcome.issue.some((i: Json) => /^Bundle\.entry\[1\]\.resource\.status/.test(i.expression?.[0] ?? ''))).toBe(true);
    await expectNothingKept();
  });

  it('refused by its database writes (a PUT of an unknown resource) rolls back the resources already written and removes the bytes', async () => {
    const { bundle } = provideDocumentBundle({ bytes: pdfOfSize(MiB), contentType: 'application/pdf' });
    // Inline data of another resource, stored as a held file, goes too.
    bundle.entry.push({
      fullUrl: urn(),
      resource: { resourceType: 'Media', status: 'completed', content: { contentType: 'image/png', data: samples.png.toString('base64') } },
      request: { method: 'POST', url: 'Media' },
    });
    bundle.entry.push({ resource: { resourceType: 'Patient', id: 'nobody' }, request: { method: 'PUT', url: 'Patient/nobody' } });
    expect(expectOperationOutcome(await postBundle(bundle), 404, /Patient\/nobody is not known/).issue[0].expression).toEqual(['Bundle.entry[4]']);
    await expectNothingKept();
  });

  it('refused for a stale If-Match (412) keeps nothing, and carries out DELETE, POST, PUT and GET whatever their order', async () => {
    const patient = (await request(t.baseUrl).post('/fhir/Patient').set(auth()).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient', active: true }).expect(201)).body;
    const gone = (await request(t.baseUrl).post('/fhir/Patient').set(auth()).set('Content-Type', FHIR_JSON).send({ resourceType: 'Patient' }).expect(201)).body;
    const newPatient = urn();
    const entries = (ifMatch: string) => [
      { request: { method: 'GET', url: `Patient/${patient.id}` } },
      { resource: { ...patient, active: false }, request: { method: 'PUT', url: `Patient/${patient.id}`, ifMatch } },
      { fullUrl: newPatient, resource: { resourceType: 'Patient', link: [{ other: { reference: `Patient/${patient.id}` }, type: 'seealso' }] }, request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: `Patient/${gone.id}` } },
      { request: { method: 'GET', url: `Patient?_id=${gone.id}` } },
    ];
    const stale = expectOperationOutcome(await postBundle({ resourceType: 'Bundle', type: 'transaction', entry: entries('W/"7"') }), 412, /at version 1/);
    expect(stale.issue[0].expression).toEqual(['Bundle.entry[1]']);
    expect((await t.resourcesOf(org)).resources.sort()).toEqual([`Patient/${gone.id}`, `Patient/${patient.id}`].sort());

    const res = await postBundle({ resourceType: 'Bundle', type: 'transaction', entry: entries('W/"1"') }).expect(200);
    const answer = JSON.parse(res.text);
    expect(answer.entry.map((e: Json) => e.response.status)).toEqual(['200 OK', '200 OK', '201 Created', '204 No Content', '200 OK']);
    // The reads come after the writes: the updated Patient, and no deleted one.
    expect(answer.entry[0].resource).toMatchObject({ id: patient.id, active: false, meta: { versionId: '2' } });
    expect(answer.entry[1].response).toMatchObject({ location: `Patient/${patient.id}`, etag: 'W/"2"' });
    expect(answer.entry[4].resource).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 0 });
    expect(answer.entry[2].resource.link[0].other.reference).toBe(`Patient/${patient.id}`);
  });

  it('refuses two changes of one resource, conditional requests and entries it cannot read, before doing anything (400)', async () => {
    const one = { request: { method: 'DELETE', url: 'Patient/a' } };
    const cases: Array<[Json[], RegExp]> = [
      [[one, { resource: { resourceType: 'Patient', id: 'a' }, request: { method: 'PUT', url: 'Patient/a' } }], /Patient\/a is also changed by Bundle\.entry\[0\]/],
      [[{ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=x' } }], /conditional/],
      [[{ request: { method: 'PATCH', url: 'Patient/a' } }], /GET, POST, PUT or DELETE/],
      [[{ request: { method: 'GET', url: 'https://elsewhere.example/Patient/a' } }], /relative/],
      [[{ resource: { resourceType: 'Patient' } }], /needs request/],
    ];
    for (const [entry, text] of cases) {
      expectOperationOutcome(await postBundle({ resourceType: 'Bundle', type: 'transaction', entry }), 400, text);
    }
    expectOperationOutcome(await postBundle({ resourceType: 'Bundle', type: 'collection', entry: [] }), 400, /transaction' or 'batch/);
    expectOperationOutcome(await postBundle({ resourceType: 'Patient' }), 400, /Bundle/);
    await expectNothingKept();
  });

  it('answers with the ids only under Prefer: return=minimal, and records one audit event per entry', async () => {
    const { bundle } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    const res = await postBundle(bundle, { Prefer: 'return=minimal' }).expect(200);
    const answer = JSON.parse(res.text);
    expect(answer.entry.every((e: Json) => e.resource === undefined && e.response.location)).toBe(true);
    const auditor = await t.tokenFor(org, { sub: 'privacy-officer', scope: 'audit/AuditEvent.read' });
    const events = (await request(t.baseUrl).get('/fhir/AuditEvent').query({ _count: 50 }).set('Authorization', `Bearer ${auditor}`).expect(200)).body;
    const created = (events.entry as Json[]).map((e) => e.resource).filter((e) => e.action === 'C');
    const named = created.map((e: Json) => (e.entity as Json[]).map((x) => x.what?.reference).filter(Boolean));
    // One event per entry, each naming its resource; the DocumentReference's names its patient too.
    expect(named.map((n) => n.find((r: string) => !r.startsWith('Patient/')) ?? n[0]).sort()).toEqual(answer.entry.map((e: Json) => e.response.location).sort());
    expect(named.some((n) => n.includes('Patient/p-mhd-1'))).toBe(true);
  });
});

describe('a transaction, as the review of its first version found it wanting', () => {
  const patientUrn = 'urn:uuid:7d1e4c2b-0a9f-4e3d-8c6b-5a4f3e2d1c01';

  it('lets one entry link a file that another lets go of: the release is decided when every entry is written', async () => {
    const binary = JSON.parse((await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', 'application/pdf').send(samples.pdf).expect(201)).text);
    const doc = (url: string) => ({ resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url } }] });
    const old = JSON.parse((await request(t.baseUrl).post('/fhir/DocumentReference').set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify(doc(`Binary/${binary.id}`))).expect(201)).text);
    // MHD's replacement: the new DocumentReference links the file, the old one goes.
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: doc(`Binary/${binary.id}`), request: { method: 'POST', url: 'DocumentReference' } },
        { request: { method: 'DELETE', url: `DocumentReference/${old.id}` } },
      ],
    }).expect(200);
    const created = JSON.parse(res.text).entry[0].response.location;
    expect((await t.resourcesOf(org)).links).toEqual([`${created} -> ${binary.id}.pdf`]);
    expect((await t.rowsOf(org)).map((r) => r.status)).toEqual(['available']);
    // And a transaction that leaves it unlinked deletes it, as a single DELETE would.
    await postBundle({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: created } }] }).expect(200);
    await eventually(async () => expect(await everything()).toEqual({ resources: [], links: [], rows: [], keys: [] }));
  });

  it("rewrites a PUT entry's fullUrl too, and refuses links that name no entry (400), before storing a byte", async () => {
    const patient = JSON.parse((await request(t.baseUrl).post('/fhir/Patient').set(auth()).set('Content-Type', FHIR_JSON).send('{"resourceType":"Patient"}').expect(201)).text);
    const { bundle } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' }, 'ignored');
    bundle.entry[1].resource.subject = { reference: patientUrn };
    bundle.entry.push({ fullUrl: patientUrn, resource: { resourceType: 'Patient', id: patient.id, active: true }, request: { method: 'PUT', url: `Patient/${patient.id}` } });
    const answer = JSON.parse((await postBundle(bundle).expect(200)).text);
    expect(answer.entry[1].resource.subject).toEqual({ reference: `Patient/${patient.id}` });
    const found = JSON.parse((await request(t.baseUrl).get('/fhir/DocumentReference').query({ patient: patient.id }).set(auth()).expect(200)).text);
    expect(found.total).toBe(1);

    const before = await everything();
    for (const [where, value] of [['subject', { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' }], ['subject', { reference: 'Patient?identifier=urn:oid:1.2|MRN-1' }]] as const) {
      const { bundle: again } = provideDocumentBundle({ bytes: pdfOfSize(2 * MiB), contentType: 'application/pdf' });
      again.entry[1].resource[where] = value;
      expectOperationOutcome(await postBundle(again), 400, /names no entry of the transaction/);
    }
    // A fullUrl names the entry's own resource, or is a urn: never another resource, which links would then be sent to.
    const { bundle: misnamed } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    misnamed.entry.push({ fullUrl: 'Patient/someone-else', resource: { resourceType: 'Patient', id: patient.id }, request: { method: 'PUT', url: `Patient/${patient.id}` } });
    expectOperationOutcome(await postBundle(misnamed), 400, /must be the URL of the resource the entry changes/);
    misnamed.entry.pop();
    misnamed.entry[0].fullUrl = `${t.baseUrl}/fhir/List/abc`;
    expectOperationOutcome(await postBundle(misnamed), 400, /name it urn:uuid/);
    // A Binary cannot be made readable only through a resource the same transaction deletes.
    const { bundle: bornDead } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    bornDead.entry[2].resource.securityContext = { reference: `Patient/${patient.id}` };
    bornDead.entry.push({ request: { method: 'DELETE', url: `Patient/${patient.id}` } });
    expectOperationOutcome(await postBundle(bornDead), 422, /deleted by this transaction/);
    // Nor may a transaction link an existing Binary through the resource it deletes.
    const kept = JSON.parse((await request(t.baseUrl).post('/fhir/Patient').set(auth()).set('Content-Type', FHIR_JSON).send('{"resourceType":"Patient"}').expect(201)).text);
    const closed = JSON.parse((await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', 'application/pdf').set('X-Security-Context', `Patient/${kept.id}`).send(samples.pdf).expect(201)).text);
    const linkThenDelete = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: `Binary/${closed.id}` } }] }, request: { method: 'POST', url: 'DocumentReference' } },
        { request: { method: 'DELETE', url: `Patient/${kept.id}` } },
      ],
    });
    expect(expectOperationOutcome(linkThenDelete, 403, /readable only with access/).issue[0].expression).toEqual(['Bundle.entry[0]']);
    await request(t.baseUrl).get(`/fhir/Patient/${kept.id}`).set(auth()).expect(200);
    const { bundle: dangling } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    dangling.entry[1].resource.content[0].attachment.url = 'urn:uuid:00000000-0000-4000-8000-000000000001';
    expectOperationOutcome(await postBundle(dangling), 400, /DocumentReference\.content\[0\]\.attachment\.url is urn:uuid:/);
    // Nothing of the refused transactions: only the Patient and the Binary made on their own since.
    const after = await everything();
    expect(after.resources).toEqual([...before.resources, `Patient/${kept.id}`].sort());
    expect(after.links).toEqual(before.links);
    expect(after.rows.sort()).toEqual([...before.rows, `${closed.id}.pdf available`].sort());
  });

  it('bounds what its reads answer: Binary bytes inline only while they fit, and 413 for reads that would not', async () => {
    const binary = JSON.parse((await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', 'application/pdf').send(pdfOfSize(900 * 1024)).expect(201)).text);
    const reads = Array.from({ length: 40 }, () => ({ request: { method: 'GET', url: `Binary/${binary.id}` } }));
    const res = await postBundle({ resourceType: 'Bundle', type: 'batch', entry: reads }).expect(200);
    expect(res.text.length).toBeLessThan(17 * MiB);
    const entries = JSON.parse(res.text).entry as Json[];
    const inline = entries.filter((e) => e.resource.data !== undefined).length;
    expect(inline).toBeGreaterThan(5);
    expect(inline).toBeLessThan(20);
    expect(entries.slice(inline).every((e) => e.resource._data?.extension?.[0]?.valueUrl === `${t.baseUrl}/fhir/Binary/${binary.id}`)).toBe(true);

    const big = JSON.parse(
      (await request(t.baseUrl).post('/fhir/Patient').set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify({ resourceType: 'Patient', name: [{ text: 'x'.repeat(900_000) }] })).expect(201)).text,
    );
    const manyReads = Array.from({ length: 20 }, () => ({ request: { method: 'GET', url: `Patient/${big.id}` } }));
    // A transaction whose reads do not fit keeps nothing of its writes either: the answer is known before it commits.
    const { bundle: writes } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    const before = await everything();
    expectOperationOutcome(await postBundle({ ...writes, entry: [...writes.entry, ...manyReads] }), 413, /FHIR_MAX_BODY_BYTES/);
    expect(await everything()).toEqual(before);
    // Reads that fit, with Binary bytes that would not: committed, the bytes left as pointers.
    const fitting = { ...writes, entry: [...provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' }).bundle.entry, ...manyReads.slice(0, 14), ...reads.slice(0, 10)] };
    const committed = JSON.parse((await postBundle(fitting).expect(200)).text).entry as Json[];
    expect(committed.slice(-10).filter((e) => e.resource.data === undefined).length).toBeGreaterThan(5);
    expect((await everything()).resources.length).toBe(before.resources.length + 2);
    const batch = JSON.parse((await postBundle({ resourceType: 'Bundle', type: 'batch', entry: manyReads }).expect(200)).text);
    const statuses = (batch.entry as Json[]).map((e) => e.response.status);
    expect(statuses.filter((x) => x === '200 OK').length).toBeGreaterThan(10);
    expect(statuses.at(-1)).toBe('413 Payload Too Large');
  });

  it('does not deadlock against another transaction that links the same files in the other order', async () => {
    const [x, y] = await Promise.all(
      [samples.pdf, samples.png].map(async (bytes, i) => JSON.parse((await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', i ? 'image/png' : 'application/pdf').send(bytes).expect(201)).text).id),
    );
    const doc = (id: string) => ({ resource: { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: `Binary/${id}` } }] }, request: { method: 'POST', url: 'DocumentReference' } });
    const patients = Array.from({ length: 40 }, () => ({ resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } }));
    const bundles = Array.from({ length: 6 }, (_, i) => ({ resourceType: 'Bundle', type: 'transaction', entry: i % 2 ? [doc(x), ...patients, doc(y)] : [doc(y), ...patients, doc(x)] }));
    const answers = await Promise.all(bundles.map((b) => postBundle(b)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });
});

describe('a batch', () => {
  it('carries out each entry on its own: what is refused answers its own OperationOutcome, the rest is kept', async () => {
    const ok = await postBundle({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Binary', contentType: 'application/pdf', data: samples.pdf.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
        { resource: { resourceType: 'Binary', contentType: 'image/png', data: samples.pdf.toString('base64') }, request: { method: 'POST', url: 'Binary' } },
        { resource: { resourceType: 'Patient', gender: 'unknown-ish' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/none' } },
      ],
    }).expect(200);
    const answer = JSON.parse(ok.text);
    expect(answer.type).toBe('batch-response');
    expect(answer.entry.map((e: Json) => e.response.status)).toEqual(['201 Created', '415 Unsupported Media Type', '422 Unprocessable Entity', '201 Created', '404 Not Found']);
    expect(answer.entry[1].response.outcome.resourceType).toBe('OperationOutcome');
    expect(answer.entry[2].response.outcome.issue[0].expression[0]).toMatch(/^Patient\.gender/);
    const binary = answer.entry[0].response.location;
    const read = await postBundle({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: binary } }] }).expect(200);
    expect(JSON.parse(read.text).entry[0].resource).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf', data: samples.pdf.toString('base64') });
    const { resources } = await t.resourcesOf(org);
    expect(resources).toEqual([answer.entry[3].response.location]);
    expect((await t.rowsOf(org)).map((r) => r.status)).toEqual(['available']);
  });

  it('refuses an entry that links another entry by its fullUrl (entries of a batch stand alone)', async () => {
    const { bundle } = provideDocumentBundle({ bytes: samples.pdf, contentType: 'application/pdf' });
    bundle.type = 'batch';
    const answer = JSON.parse((await postBundle(bundle).expect(200)).text);
    expect(answer.entry.map((e: Json) => e.response.status)).toEqual(['400 Bad Request', '400 Bad Request', '201 Created']);
    expect(answer.entry[1].response.outcome.issue[0].details.text).toMatch(/send a transaction/);
  });
});

describe('a dependency failing while a transaction stores its Binary', () => {
  // An app of its own: faults between it and each dependency, short timeouts, and a database of its own for the sweeper.
  let f: TestApp;
  let database: { url: string; drop(): Promise<void> };
  beforeAll(async () => {
    database = await scratchDatabase();
    f = await startTestApp(
      { CLAMAV_TIMEOUT_SECONDS: '3', DATABASE_TIMEOUT_SECONDS: '3', S3_TIMEOUT_SECONDS: '3', DATABASE_URL: database.url },
      storeProfile(),
      { clamd: true, faults: true },
    );
  }, 60_000);
  afterAll(async () => {
    await f.close();
    await database.drop();
  });

  const cases: Array<[string, 'database' | 'scanner' | 'objectStore', 'down' | 'hang']> = [
    ['Postgres going away', 'database', 'down'],
    ['Postgres hanging', 'database', 'hang'],
    ['clamd going away', 'scanner', 'down'],
    ...(onS3 ? [['the S3 server going away', 'objectStore', 'down'] as [string, 'objectStore', 'down']] : []),
  ];

  it.each(cases)('%s: answered 503 in bounded time, and nothing of the transaction is kept', async (_name, which, mode) => {
    const ownOrg = newOrganizationId();
    const ownToken = await f.tokenFor(ownOrg);
    const { bundle } = provideDocumentBundle({ bytes: mp4OfSize(11 * MiB), contentType: 'video/mp4' });
    const started = Date.now();
    const answer = request(f.baseUrl).post('/fhir').set('Authorization', `Bearer ${ownToken}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(bundle)).then((r) => r);
    // The moment the Binary's row exists, its bytes are on their way to the store and the scanner.
    await eventually(async () => expect((await f.rowsOf(ownOrg)).length).toBe(1), 10_000);
    f.faults![which]!.set(mode);
    const res = await answer.finally(() => f.faults![which]!.set('pass'));
    const outcome = expectOperationOutcome(res, 503);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(outcome.issue[0].details.text).not.toMatch(/\b\d{1,3}(\.\d{1,3}){3}\b|localhost/);
    expect(Date.now() - started).toBeLessThan(20_000);
    // What the failed cleanup left pending is the sweeper's; nothing is ever available.
    expect((await f.rowsOf(ownOrg)).filter((r) => r.status === 'available')).toEqual([]);
    await f.app.get(UnfinishedUploadSweeper, { strict: false }).sweep(new Date(Date.now() + f.config.uploads.pendingTtlSeconds * 1000 + 1000));
    await eventually(async () => {
      expect(await f.resourcesOf(ownOrg)).toEqual({ resources: [], links: [] });
      expect(await f.rowsOf(ownOrg)).toEqual([]);
      expect(await f.storedKeys(ownOrg)).toEqual([]);
      expect(await f.unfinishedWrites(ownOrg)).toBe(0);
    }, 15_000);
  });
});

/** Text of `size` bytes with `byte` at `at`. */
function textWithByteAt(size: number, at: number, byte: number): Buffer {
  const text = Buffer.alloc(size, 'a');
  text[at] = byte;
  return text;
}
