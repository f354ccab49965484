import { createHash } from 'node:crypto';
import request from 'supertest';
import { newOrganizationId } from '../support/environment.js';
import { eventually } from '../support/http.js';
import { expectOperationOutcome, FHIR_JSON, resourceWith, type Json } from '../support/fhir.js';
import { mp4OfSize, pdfOfSize, samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';

/**
 * FHIR's Binary, backed by the stored files: created raw or as FHIR JSON through the upload's checks,
 * read as the resource or as its bytes as the client negotiates, deleted under the files' link rules.
 * On both stacks (fs + Postgres; S3 + clamd), where the bytes are a download and a 307 respectively.
 */
const onS3 = storeProfile() === 's3-clamav';
const BINARY_CONTENT_URL = 'https://clinical-attachments.example/fhir/StructureDefinition/binary-content-url';

let t: TestApp;
let org: string;
let token: string;

beforeAll(async () => {
  t = await startTestApp({ FHIR_BINARY_INLINE_MAX_BYTES: String(64 * 1024) }, storeProfile(), { clamd: onS3 });
}, 60_000);
afterAll(() => t.close());

beforeEach(async () => {
  org = newOrganizationId();
  token = await t.tokenFor(org);
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const auth = () => ({ Authorization: `Bearer ${token}` });

function createRaw(bytes: Buffer, contentType: string, headers: Record<string, string> = {}) {
  // superagent would serialise a Buffer as JSON for a JSON type: send JSON as the text it is.
  return request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', contentType).set(headers).send(/json/.test(contentType) ? bytes.toString() : bytes);
}

/** The Binary's id from a create's Location, which must be this service's /fhir/Binary/<32 hex>. */
function idOf(res: request.Response): string {
  const match = new RegExp(`^${t.baseUrl}/fhir/Binary/([0-9a-f]{32})$`).exec(res.headers.location ?? '');
  expect(match).not.toBeNull();
  return match![1]!;
}

/** Follows a 307 without the token, as a client must; the bytes otherwise. */
async function bytesOf(res: request.Response): Promise<{ status: number; body: Buffer; contentType?: string }> {
  if (res.status !== 307) return { status: res.status, body: res.body as Buffer, contentType: res.headers['content-type'] };
  const followed = await fetch(res.headers.location!);
  return { status: followed.status, body: Buffer.from(await followed.arrayBuffer()), contentType: followed.headers.get('content-type') ?? undefined };
}

describe('POST /fhir/Binary', () => {
  it('stores raw bytes as a file of the organization and answers 201 with the Binary, its Location and version', async () => {
    const res = await createRaw(samples.pdf, 'application/pdf').expect(201);
    const id = idOf(res);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(res.headers.etag).toBe('W/"1"');
    expect(JSON.parse(res.text)).toEqual({ resourceType: 'Binary', id, meta: { versionId: '1', lastUpdated: expect.any(String) }, contentType: 'application/pdf' });
    // The same file, at its /files address too.
    expect(await t.storedKeys(org)).toEqual([`${org}/${id}.pdf`]);
    const metadata = await request(t.baseUrl).get(`/files/${org}/${id}.pdf/metadata`).set(auth()).expect(200);
    expect(metadata.body).toMatchObject({ sha256: sha256(samples.pdf), size: samples.pdf.length, contentType: 'application/pdf' });
  });

  it('takes the file name from Content-Disposition or _filename, and none at all', async () => {
    const named = idOf(await createRaw(samples.png, 'image/png', { 'Content-Disposition': 'attachment; filename="wound.png"' }).expect(201));
    const byQuery = idOf(await request(t.baseUrl).post('/fhir/Binary?_filename=ulcer.png').set(auth()).set('Content-Type', 'image/png').send(samples.png).expect(201));
    const unnamed = idOf(await createRaw(samples.png, 'image/png').expect(201));
    const disposition = async (id: string) => (await request(t.baseUrl).get(`/files/${org}/${id}.png/metadata`).set(auth()).expect(200)).body.originalName;
    expect([await disposition(named), await disposition(byQuery), await disposition(unnamed)]).toEqual(['wound.png', 'ulcer.png', 'binary.png']);
  });

  it('checks raw bytes like any upload: a declared type the content contradicts is 415, nothing kept', async () => {
    const res = await createRaw(samples.pdf, 'image/png');
    const outcome = expectOperationOutcome(res, 415, /The content is application\/pdf, but the declared type and the extension \.png say image\/png/);
    expect(outcome.issue[0].code).toBe('not-supported');
    expect(await t.rowsOf(org)).toEqual([]);
  });

  it('stores plain JSON sent as application/json as a file, byte for byte (only application/fhir+json is a resource)', async () => {
    const document = Buffer.from('{"resourceType":"Observation","status":"final",  "note":"kept as sent"}');
    const id = idOf(await createRaw(document, 'application/json').expect(201));
    const read = await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', 'application/json').buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
    const got = await bytesOf(read);
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe(document.toString());
  });

  it('creates from a FHIR JSON Binary with base64 data, through the same checks', async () => {
    const post = (body: Json) => request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
    const res = await post({ resourceType: 'Binary', contentType: 'image/png', data: samples.png.toString('base64') }).expect(201);
    expect(JSON.parse(res.text)).toMatchObject({ resourceType: 'Binary', id: idOf(res), contentType: 'image/png' });
    expect(JSON.parse(res.text).data).toBeUndefined();

    expectOperationOutcome(await post({ resourceType: 'Binary', contentType: 'image/png', data: samples.pdf.toString('base64') }), 415);
    expectOperationOutcome(await post({ resourceType: 'Binary', contentType: 'image/png', data: 'not base64!' }), 422, /data is not valid base64/);
    // Line-wrapped base64 is base64Binary too.
    const wrapped = samples.png.toString('base64').replace(/(.{20})/g, '$1\n');
    expect(JSON.parse((await post({ resourceType: 'Binary', contentType: 'image/png', data: wrapped }).expect(201)).text).contentType).toBe('image/png');
    // What it would not keep is refused, not dropped; a securityContext must name a resource of the organization.
    expectOperationOutcome(
      await post({ resourceType: 'Binary', contentType: 'image/png', data: samples.png.toString('base64'), securityContext: { reference: 'Patient/p-1' } }),
      422,
      /securityContext Patient\/p-1 is not a resource of this organization/,
    );
    expectOperationOutcome(await post({ resourceType: 'Binary', contentType: 'image/png', data: samples.png.toString('base64'), foo: 1 }), 422, /Binary\.foo is not taken/);
    expectOperationOutcome(await post({ resourceType: 'Binary', contentType: 'image/png' }), 422, /data is required/);
    expectOperationOutcome(await post({ resourceType: 'Observation', status: 'final' }), 422, /must be a Binary/);
    expect(await t.rowsOf(org)).toHaveLength(2);
  });

  it('reads names as RFC 6266 says, and refuses a body without a type or name, or of a type not stored, before reading it', async () => {
    const utf8 = idOf(await createRaw(samples.text, 'text/plain', { 'Content-Disposition': `attachment; filename="note.txt"; filename*=UTF-8''n%C3%B6te.txt` }).expect(201));
    const quoted = idOf(await createRaw(samples.text, 'text/plain', { 'Content-Disposition': 'attachment; filename="a\\"b.txt"' }).expect(201));
    const nameOf = async (id: string) => (await request(t.baseUrl).get(`/files/${org}/${id}.txt/metadata`).set(auth()).expect(200)).body.originalName;
    expect([await nameOf(utf8), await nameOf(quoted)]).toEqual(['nöte.txt', 'a"b.txt']);
    expectOperationOutcome(await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', 'application/octet-stream').send(samples.pdf), 415, /Send the file with its Content-Type/);
    expectOperationOutcome(await createRaw(Buffer.from('<html></html>'), 'text/html'), 415, /Files of type text\/html are not accepted/);
    expect(await t.rowsOf(org)).toHaveLength(2);
  });

  it('routes /FHIR/binary as Express does: plain JSON there is content too, and errors are OperationOutcomes', async () => {
    const document = '{"kept": "as sent"}';
    const res = await request(t.baseUrl).post('/FHIR/binary').set(auth()).set('Content-Type', 'application/json').send(document).expect(201);
    const id = idOf({ headers: { location: res.headers.location } } as never);
    const bytes = await fetch(`${t.baseUrl}/fhir/Binary/${id}`, { headers: { ...auth(), Accept: 'application/json' } });
    expect(await bytes.text()).toBe(document);
    expect(JSON.parse((await request(t.baseUrl).get('/FHIR/Binary/nothing').set(auth())).text).resourceType).toBe('OperationOutcome');
  });

  it('answers no body with Prefer: return=minimal', async () => {
    const res = await createRaw(samples.pdf, 'application/pdf', { Prefer: 'return=minimal' }).expect(201);
    expect(res.text).toBe('');
    idOf(res);
  });
});

describe('Binary.securityContext', () => {
  const createResource = async (type: string, body: Json) =>
    JSON.parse((await request(t.baseUrl).post(`/fhir/${type}`).set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify(body)).expect(201)).text);
  /** Every way to read the Binary's bytes or resource: each must answer `status`. */
  async function readsAnswer(id: string, fileName: string, status: number): Promise<void> {
    const answers = [
      await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON),
      await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()),
      await request(t.baseUrl).get(`/files/${org}/${fileName}`).set(auth()),
      await request(t.baseUrl).get(`/files/${org}/${fileName}/metadata`).set(auth()),
    ];
    const expected = status === 200 ? (onS3 ? [200, 307, 200, 200] : [200, 200, 200, 200]) : [status, status, status, status];
    expect(answers.map((r) => r.status)).toEqual(expected);
  }

  it('is kept from X-Security-Context or the JSON, shown on read, and makes the Binary readable only while that resource exists', async () => {
    const doc = await createResource('DocumentReference', {
      resourceType: 'DocumentReference', status: 'current', subject: { reference: 'Patient/p-7' }, content: [{ attachment: { url: 'https://archive.example.org/d/1' } }],
    });
    const raw = idOf(await createRaw(samples.pdf, 'application/pdf', { 'X-Security-Context': `DocumentReference/${doc.id}` }).expect(201));
    const json = JSON.parse(
      (
        await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', FHIR_JSON)
          .send(JSON.stringify({ resourceType: 'Binary', contentType: 'image/png', data: samples.png.toString('base64'), securityContext: { reference: `DocumentReference/${doc.id}` } }))
          .expect(201)
      ).text,
    );
    expect(json.securityContext).toEqual({ reference: `DocumentReference/${doc.id}` });
    const read = JSON.parse((await request(t.baseUrl).get(`/fhir/Binary/${raw}`).set(auth()).set('Accept', FHIR_JSON).expect(200)).text);
    expect(read.securityContext).toEqual({ reference: `DocumentReference/${doc.id}` });
    await readsAnswer(raw, `${raw}.pdf`, 200);
    await readsAnswer(json.id, `${json.id}.png`, 200);
    // Another resource linking the Binary reaches it through its attachment route while the context exists.
    const linking = await createResource('DocumentReference', { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: `Binary/${raw}` } }] });
    await request(t.baseUrl).get(`/fhir/DocumentReference/${linking.id}/files/content`).set(auth()).expect(307);

    // Linked by its /files URL instead: the same file, the same rule.
    const byPath = await createResource('DocumentReference', { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: `${t.baseUrl}/files/${org}/${raw}.pdf` } }] });

    await request(t.baseUrl).delete(`/fhir/DocumentReference/${doc.id}`).set(auth()).expect(204);
    await readsAnswer(raw, `${raw}.pdf`, 403);
    for (const via of [linking, byPath]) {
      expectOperationOutcome(await request(t.baseUrl).get(`/fhir/DocumentReference/${via.id}/files/content`).set(auth()), 403, /readable only with access/);
      await request(t.baseUrl).head(`/fhir/DocumentReference/${via.id}/files/content`).set(auth()).expect(403);
    }
    // A resource that links it already can still be saved (its link stays, and stays closed).
    const changed = JSON.parse((await request(t.baseUrl).get(`/fhir/DocumentReference/${linking.id}`).set(auth()).expect(200)).text);
    changed.status = 'entered-in-error';
    await request(t.baseUrl).put(`/fhir/DocumentReference/${linking.id}`).set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify(changed)).expect(200);
    expect((await t.resourcesOf(org)).links).toContain(`DocumentReference/${linking.id} -> ${raw}.pdf`);
    // Nor can a new resource link it (which would copy its facts and open a route to it), by either address.
    for (const url of [`Binary/${raw}`, `/files/${org}/${raw}.pdf`]) {
      const res = await request(t.baseUrl).post('/fhir/DocumentReference').set(auth()).set('Content-Type', FHIR_JSON)
        .send(JSON.stringify({ resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url } }] }));
      expectOperationOutcome(res, 403, /readable only with access/);
    }
    const denied = await request(t.baseUrl).get(`/fhir/Binary/${raw}`).set(auth()).set('Accept', FHIR_JSON);
    expect(expectOperationOutcome(denied, 403, /readable only with access to DocumentReference\/.+, which no longer exists/).issue[0].code).toBe('forbidden');
    // Another organization's Binary stays unknown, whatever its context.
    const other = await t.tokenFor(newOrganizationId());
    await request(t.baseUrl).get(`/fhir/Binary/${raw}`).set('Authorization', `Bearer ${other}`).expect(404);
  });

  it('refuses a context that is not an existing resource of the organization, before a byte is stored (422)', async () => {
    const foreign = await createResource('Patient', { resourceType: 'Patient' });
    const elsewhere = await t.tokenFor(newOrganizationId());
    for (const context of ['Patient/nobody', 'Observation/1', 'http://example.org/fhir/Patient/1', 'Patient', 'Binary/0123']) {
      expectOperationOutcome(await createRaw(pdfOfSize(2 * 1024 * 1024), 'application/pdf', { 'X-Security-Context': context }), 422, /securityContext/);
    }
    const res = await request(t.baseUrl).post('/fhir/Binary').set('Authorization', `Bearer ${elsewhere}`).set('Content-Type', 'application/pdf')
      .set('X-Security-Context', `Patient/${foreign.id}`).send(samples.pdf);
    expectOperationOutcome(res, 422, /not a resource of this organization/);
    // One source for it: a FHIR JSON Binary carries it in the resource, and the header beside it is refused.
    const both = await request(t.baseUrl).post('/fhir/Binary').set(auth()).set('Content-Type', FHIR_JSON).set('X-Security-Context', `Patient/${foreign.id}`)
      .send(JSON.stringify({ resourceType: 'Binary', contentType: 'image/png', data: samples.png.toString('base64'), securityContext: { reference: 'Patient/nobody' } }));
    expectOperationOutcome(both, 400, /leave X-Security-Context out/);
    expect(await t.rowsOf(org)).toEqual([]);
    expect(await t.storedKeys(org)).toEqual([]);
  });

  it('may name a resource of the same transaction, by its urn; a link from that resource reaches the Binary through its attachment route', async () => {
    const [docUrn, binUrn] = ['urn:uuid:1f6e7c4a-9a51-4d8e-b5f2-3c1d2e4f5a60', 'urn:uuid:1f6e7c4a-9a51-4d8e-b5f2-3c1d2e4f5a61'];
    const res = await request(t.baseUrl).post('/fhir').set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: docUrn, resource: { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { url: binUrn } }] }, request: { method: 'POST', url: 'DocumentReference' } },
        { fullUrl: binUrn, resource: { resourceType: 'Binary', contentType: 'application/pdf', data: samples.pdf.toString('base64'), securityContext: { reference: docUrn } }, request: { method: 'POST', url: 'Binary' } },
      ],
    })).expect(200);
    const [docEntry, binEntry] = JSON.parse(res.text).entry;
    expect(binEntry.resource.securityContext).toEqual({ reference: docEntry.response.location });
    const route = await request(t.baseUrl).get(`/fhir/${docEntry.response.location}/files/content`).set(auth()).expect(307);
    expect((await fetch(new URL(route.headers.location!, t.baseUrl))).status).toBe(200);
  });
});

describe('GET /fhir/Binary/<id>', () => {
  const binaryBuffer = (r: request.Request) =>
    r.buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });

  it('answers the resource for a FHIR Accept or _format, with the bytes inline up to FHIR_BINARY_INLINE_MAX_BYTES', async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    for (const ask of [{ accept: FHIR_JSON, query: '' }, { accept: 'application/pdf', query: '?_format=json' }, { accept: '*/*', query: '?_format=application/fhir+json' }]) {
      const res = await request(t.baseUrl).get(`/fhir/Binary/${id}${ask.query}`).set(auth()).set('Accept', ask.accept).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
      expect(res.headers.vary).toMatch(/Accept/);
      expect(JSON.parse(res.text)).toEqual({
        resourceType: 'Binary',
        id,
        meta: { versionId: '1', lastUpdated: expect.any(String) },
        contentType: 'application/pdf',
        data: samples.pdf.toString('base64'),
      });
    }
  });

  it('points at the bytes instead of carrying them for a file over the inline limit, and the pointer serves them', async () => {
    const video = mp4OfSize(5 * 1024 * 1024);
    const id = idOf(await createRaw(video, 'video/mp4').expect(201));
    const binary = JSON.parse((await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).expect(200)).text);
    expect(binary.data).toBeUndefined();
    expect(binary._data).toEqual({ extension: [{ url: BINARY_CONTENT_URL, valueUrl: `${t.baseUrl}/fhir/Binary/${id}` }] });
    const got = await bytesOf(await binaryBuffer(request(t.baseUrl).get(new URL(binary._data.extension[0].valueUrl).pathname).set(auth()).redirects(0)));
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(video));
  });

  it(`answers the bytes for any other Accept: ${onS3 ? 'a 307 to a signed URL of the S3 store' : 'a download with type, disposition, ETag and Range'}`, async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf', { 'Content-Disposition': 'attachment; filename="lab.pdf"' }).expect(201));
    for (const accept of [undefined, '*/*', 'application/pdf', 'application/*']) {
      const req = request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).redirects(0);
      const res = await binaryBuffer(accept ? req.set('Accept', accept) : req);
      if (onS3) {
        expect(res.status).toBe(307);
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.headers.location).toMatch(/X-Amz-Signature=/);
      } else {
        expect(res.status).toBe(200);
        expect(res.headers.etag).toBe(`"${sha256(samples.pdf)}"`);
      }
      const got = await bytesOf(res);
      expect(got.status).toBe(200);
      expect(got.contentType).toMatch(/^application\/pdf/);
      expect(got.body.equals(samples.pdf)).toBe(true);
    }
    if (!onS3) {
      const range = await binaryBuffer(request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Range', 'bytes=0-7'));
      expect(range.status).toBe(206);
      expect((range.body as Buffer).toString()).toBe(samples.pdf.subarray(0, 8).toString());
      const download = await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth());
      expect(download.headers['content-disposition']).toMatch(/^attachment; filename="?lab\.pdf"?/);
    }
  });

  it('answers HEAD of the resource with the GET\'s headers, and 304 to the version the client holds', async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    const get = await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).expect(200);
    const head = await request(t.baseUrl).head(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).expect(200);
    for (const name of ['content-type', 'content-length', 'etag', 'last-modified', 'vary']) expect(head.headers[name]).toBe(get.headers[name]);
    await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).set('If-None-Match', 'W/"1"').expect(304);
  });

  it('answers 406 to an Accept it cannot meet and to a _format it does not serve', async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    expectOperationOutcome(await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', 'image/png'), 406, /This Binary is application\/pdf/);
    expectOperationOutcome(await request(t.baseUrl).get(`/fhir/Binary/${id}?_format=xml`).set(auth()), 406, /_format xml is not served/);
  });

  it("is 404 for another organization's Binary and for an id that is no file", async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    const stranger = await t.tokenFor(newOrganizationId());
    expectOperationOutcome(await request(t.baseUrl).get(`/fhir/Binary/${id}`).set('Authorization', `Bearer ${stranger}`).set('Accept', FHIR_JSON), 404);
    expectOperationOutcome(await request(t.baseUrl).get(`/fhir/Binary/${id}`).set('Authorization', `Bearer ${stranger}`), 404);
    expectOperationOutcome(await request(t.baseUrl).delete(`/fhir/Binary/${id}`).set('Authorization', `Bearer ${stranger}`), 404);
    expectOperationOutcome(await request(t.baseUrl).get('/fhir/Binary/not-a-file-id').set(auth()), 404);
    expect(await t.storedKeys(org)).toHaveLength(1);
  });

  it('reads every stored file as a Binary, uploads through /files included', async () => {
    const upload = await request(t.baseUrl).post('/files/upload').set(auth()).attach('file', samples.png, 'photo.png').expect(201);
    const id = /\/([0-9a-f]{32})\.png$/.exec(upload.body.key as string)![1];
    const binary = JSON.parse((await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).expect(200)).text);
    expect(binary).toMatchObject({ resourceType: 'Binary', id, contentType: 'image/png', data: samples.png.toString('base64') });
  });
});

describe('attachments that reference a Binary', () => {
  const postDocument = (url: string, bearer = token) =>
    request(t.baseUrl)
      .post('/fhir/DocumentReference')
      .set('Authorization', `Bearer ${bearer}`)
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(resourceWith('DocumentReference', [{ url, contentType: 'image/png', size: 1 }], 'p-3')));

  it('link it as Binary/<id> however it is spelled, with the file\'s facts, and redirect to its bytes', async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    for (const url of [`Binary/${id}`, `/fhir/Binary/${id}`, `${t.baseUrl}/fhir/Binary/${id}`, `/fhir/Binary/${id}/`, `./Binary/${id}`]) {
      const created = JSON.parse((await postDocument(url).expect(201)).text);
      // The client's contentType and size are wrong on purpose: the stored file's facts win. The link is
      // stored as Binary/<id> and read as its full URL (IHE ITI-67), whatever the base.
      expect((await t.resourcesOf(org)).links).toContain(`DocumentReference/${created.id} -> ${id}.pdf`);
      expect(created.content[0].attachment).toEqual({
        url: `${t.baseUrl}/fhir/Binary/${id}`,
        contentType: 'application/pdf',
        size: samples.pdf.length,
        hash: createHash('sha1').update(samples.pdf).digest('base64'),
      });
      const redirect = await request(t.baseUrl).get(`/fhir/DocumentReference/${created.id}/files/content`).set(auth()).redirects(0).expect(307);
      const followed = await fetch(new URL(redirect.headers.location!, t.baseUrl));
      expect(followed.status).toBe(200);
      expect(Buffer.from(await followed.arrayBuffer()).equals(samples.pdf)).toBe(true);
    }
    // Read through another Host (or under an earlier PUBLIC_BASE_URL) and saved back: still the same link, not an external URL.
    const doc = JSON.parse((await postDocument(`Binary/${id}`).expect(201)).text);
    const elsewhere = JSON.parse((await request(t.baseUrl).get(`/fhir/DocumentReference/${doc.id}`).set(auth()).set('Host', 'reader.example:8443').expect(200)).text);
    expect(elsewhere.content[0].attachment.url).toBe(`http://reader.example:8443/fhir/Binary/${id}`);
    const saved = JSON.parse((await request(t.baseUrl).put(`/fhir/DocumentReference/${doc.id}`).set(auth()).set('Content-Type', FHIR_JSON).send(JSON.stringify(elsewhere)).expect(200)).text);
    expect(saved.content[0].attachment.url).toBe(`${t.baseUrl}/fhir/Binary/${id}`);
    expect((await t.resourcesOf(org)).links).toContain(`DocumentReference/${doc.id} -> ${id}.pdf`);
    // Another server's Binary URL, even one shaped like ours, stays an external link.
    const external = `https://other.example/fhir/Binary/${'ab'.repeat(16)}`;
    expect(JSON.parse((await postDocument(external).expect(201)).text).content[0].attachment.url).toBe(external);
    // Linked now: the Binary cannot go while the documents point at it.
    expectOperationOutcome(await request(t.baseUrl).delete(`/fhir/Binary/${id}`).set(auth()), 409, /DocumentReference\//);
  });

  it("refuses another organization's Binary and an unknown one (422), keeping nothing", async () => {
    const theirs = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    const mine = await t.tokenFor(newOrganizationId());
    expectOperationOutcome(await postDocument(`Binary/${theirs}`, mine), 422, new RegExp(`Binary/${theirs} is not a Binary of this organization`));
    expectOperationOutcome(await postDocument('Binary/0123456789abcdef0123456789abcdef'), 422, /is not a Binary of this organization/);
    // Spellings the Binary route would serve but that name no Binary: refused, never kept as an external link.
    for (const url of [`/fhir/Binary/${theirs}?x=1`, `Binary/${theirs.toUpperCase()}`, `Binary/${theirs}/_history/1`]) {
      expectOperationOutcome(await postDocument(url), 422, /is not a Binary of this service/);
    }
    const documents = await request(t.baseUrl).get('/fhir/DocumentReference').set(auth()).expect(200);
    expect(JSON.parse(documents.text).total).toBe(0);
  });
});

describe('the audit trail', () => {
  it('records who created, read and deleted a Binary, naming the Binary and its file', async () => {
    const id = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).set('Accept', FHIR_JSON).expect(200);
    await request(t.baseUrl).get(`/fhir/Binary/${id}`).set(auth()).redirects(0);
    await request(t.baseUrl).delete(`/fhir/Binary/${id}`).set(auth()).expect(204);
    const auditor = await t.tokenFor(org, { sub: 'privacy-officer', scope: 'audit/AuditEvent.read' });
    await eventually(async () => {
      const res = await request(t.baseUrl).get(`/fhir/AuditEvent?entity=Binary/${id}&_count=10`).set('Authorization', `Bearer ${auditor}`).expect(200);
      const events = JSON.parse(res.text).entry.map((e: Json) => e.resource);
      expect(events.map((e: Json) => e.subtype?.[0]?.code).sort()).toEqual(['create', 'delete', 'read', 'read']);
      for (const event of events) {
        const names = event.entity.map((e: Json) => e.what?.reference ?? e.what?.identifier?.value);
        expect(names).toEqual(expect.arrayContaining([`Binary/${id}`]));
        expect(JSON.stringify(event.entity)).toContain(`${org}/${id}.pdf`);
      }
    });
  });
});

describe('DELETE /fhir/Binary/<id>', () => {
  it('deletes an unlinked Binary and its bytes (204), and refuses one a resource links (409, naming it)', async () => {
    const loose = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    await request(t.baseUrl).delete(`/fhir/Binary/${loose}`).set(auth()).expect(204);
    expect(await t.storedKeys(org)).toEqual([]);
    expectOperationOutcome(await request(t.baseUrl).get(`/fhir/Binary/${loose}`).set(auth()), 404);

    const linked = idOf(await createRaw(samples.pdf, 'application/pdf').expect(201));
    const document = await request(t.baseUrl)
      .post('/fhir/DocumentReference')
      .set(auth())
      .set('Content-Type', FHIR_JSON)
      .send(JSON.stringify(resourceWith('DocumentReference', [{ url: `/files/${org}/${linked}.pdf` }], 'p-1')))
      .expect(201);
    const documentId = JSON.parse(document.text).id;
    expectOperationOutcome(await request(t.baseUrl).delete(`/fhir/Binary/${linked}`).set(auth()), 409, new RegExp(`DocumentReference/${documentId}`));
    expect(await t.storedKeys(org)).toEqual([`${org}/${linked}.pdf`]);
  });
});
