import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LoggerService } from '@nestjs/common';
import axios from 'axios';
import pg from 'pg';
import request from 'supertest';
import { newOrganizationId, tempDir } from '../support/environment.js';
import { attachmentsIn, expectOperationOutcome, FHIR_JSON, FHIR_TYPES, PRODUCT_ATTACHMENT_FIELD, resourceWith, type FhirType, type Json } from '../support/fhir.js';
import { pdfOfSize, samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
/** scripts/test-services.sh points this at a Python with Debian's python3-requests. */
const PYTHON = process.env.TEST_PYTHON ?? 'python3';
const onS3 = storeProfile() === 's3-clamav';

const FIELD = PRODUCT_ATTACHMENT_FIELD;
/** Consent.sourceAttachment and Media.content hold one attachment in R4. */
const REPEATS: Record<FhirType, boolean> = {
  Consent: false,
  DiagnosticReport: true,
  DocumentReference: true,
  Media: false,
  Patient: true,
  Practitioner: true,
};

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

async function upload(app: TestApp, bytes: Buffer, name: string): Promise<Json> {
  const res = await request(app.baseUrl).post('/files/upload').set('Authorization', `Bearer ${token}`).attach('file', bytes, name).expect(201);
  return res.body;
}

/** A resource of `type` whose attachment field holds `attachments`; returns its id. */
async function create(app: TestApp, type: FhirType, attachments: Json[]): Promise<string> {
  const res = await request(app.baseUrl)
    .post(`/fhir/${type}`)
    .set('Authorization', `Bearer ${token}`)
    .set('Content-Type', FHIR_JSON)
    .send(JSON.stringify(resourceWith(type, attachments)))
    .expect(201);
  return JSON.parse(res.text).id;
}

async function createWithFiles(app: TestApp, type: FhirType, files: Array<{ bytes: Buffer; name: string }>): Promise<string> {
  const attachments = [];
  for (const f of files) attachments.push({ url: (await upload(app, f.bytes, f.name)).url });
  return create(app, type, attachments);
}

const filesPath = (type: FhirType, id: string, suffix = '') => `/fhir/${type}/${id}/files/${FIELD[type]}${suffix}`;

function get(app: TestApp, path: string, bearer: string | null = token) {
  const req = request(app.baseUrl).get(path);
  return bearer ? req.set('Authorization', `Bearer ${bearer}`) : req;
}

/** The 307's Location, after checking the headers every such answer carries. */
async function signedLocation(app: TestApp, path: string, method: 'get' | 'head' = 'get'): Promise<string> {
  const res = await request(app.baseUrl)[method](path).set('Authorization', `Bearer ${token}`);
  expect(res.status).toBe(307);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  const location: string = res.headers.location;
  expect(location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
  expect(location).not.toContain(token);
  return location;
}

/** Fetches a URL the way a browser given only the URL would: no headers, no redirects. */
async function fetchBare(url: string, init: RequestInit = {}) {
  const res = await fetch(url, { redirect: 'error', ...init });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

describe.each(FHIR_TYPES)('GET /fhir/%s/{id}/files/<field>', (type: FhirType) => {
  it('answers 307 to a signed URL that serves the original bytes, type and name with no credentials', async () => {
    const files = [{ bytes: samples.pdf, name: 'lab report.pdf' }];
    if (REPEATS[type]) files.push({ bytes: samples.png, name: 'wound.png' });
    const id = await createWithFiles(t, type, files);

    const first = await fetchBare(await signedLocation(t, filesPath(type, id)));
    expect(first.status).toBe(200);
    expect(first.body.equals(samples.pdf)).toBe(true);
    expect(first.headers.get('content-type')).toBe('application/pdf');
    expect(first.headers.get('content-disposition')).toBe('attachment; filename="lab report.pdf"');

    // The index is zero-based; /0 is the same attachment as no index.
    expect((await fetchBare(await signedLocation(t, filesPath(type, id, '/0')))).body.equals(samples.pdf)).toBe(true);
    if (REPEATS[type]) {
      const second = await fetchBare(await signedLocation(t, filesPath(type, id, '/1')));
      expect(second.body.equals(samples.png)).toBe(true);
      expect(second.headers.get('content-type')).toBe('image/png');
      expect(second.headers.get('content-disposition')).toBe('attachment; filename=wound.png');
    }
    expectOperationOutcome(await get(t, filesPath(type, id, `/${files.length}`)), 404, /has no/);

    // Reads keep the stable /files URL; no signed URL is ever written into the resource.
    const read = await get(t, `/fhir/${type}/${id}`).expect(200);
    const urls = attachmentsIn(type, JSON.parse(read.text)).map((a) => a.url);
    for (const url of urls) expect(url).toMatch(/^\/files\/[^?]+$/);
    expect(read.text).not.toMatch(/signature=|X-Amz-|signed-files/);
  });
});

describe('the 307', () => {
  it('answers HEAD with a URL signed for HEAD', async () => {
    const id = await createWithFiles(t, 'DocumentReference', [{ bytes: samples.pdf, name: 'r.pdf' }]);
    const headUrl = await signedLocation(t, filesPath('DocumentReference', id), 'head');
    const head = await fetchBare(headUrl, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(samples.pdf.length));
    expect(head.headers.get('content-type')).toBe('application/pdf');
    const getUrl = await signedLocation(t, filesPath('DocumentReference', id));
    expect(headUrl).not.toBe(getUrl);
    // A HEAD-signed URL is no GET-signed one (on S3 the signature covers the method; the fs store says so).
    if (!onS3) expect((await fetchBare(headUrl)).status).toBe(403);
  });

  it('passes disposition=inline through for images but not for PDF, and refuses other values', async () => {
    const id = await createWithFiles(t, 'Patient', [{ bytes: samples.png, name: 'face.png' }, { bytes: samples.pdf, name: 'p.pdf' }]);
    const png = await fetchBare(await signedLocation(t, filesPath('Patient', id, '/0?disposition=inline')));
    expect(png.headers.get('content-disposition')).toBe('inline; filename=face.png');
    const pdf = await fetchBare(await signedLocation(t, filesPath('Patient', id, '/1?disposition=inline')));
    expect(pdf.headers.get('content-disposition')).toBe('attachment; filename=p.pdf');
    expectOperationOutcome(await get(t, filesPath('Patient', id, '?disposition=render')), 400, /disposition/);
  });

  it('leads to a URL that serves byte ranges', async () => {
    const id = await createWithFiles(t, 'Media', [{ bytes: samples.pdf, name: 'scan.pdf' }]);
    const part = await fetchBare(await signedLocation(t, filesPath('Media', id)), { headers: { Range: 'bytes=0-3' } });
    expect(part.status).toBe(206);
    expect(part.body.toString()).toBe('%PDF');
  });

  it('is 404 for an unknown type, field or index and for another organization\'s resource, 401 without a token', async () => {
    const id = await createWithFiles(t, 'DiagnosticReport', [{ bytes: samples.pdf, name: 'r.pdf' }]);
    expectOperationOutcome(await get(t, `/fhir/Observation/${id}/files/presentedForm`), 404, /Observation/);
    expectOperationOutcome(await get(t, `/fhir/DiagnosticReport/${id}/files/content`), 404, /presentedForm/);
    expectOperationOutcome(await get(t, `/fhir/DiagnosticReport/${id}/files/presentedForm/one`), 404, /index/);
    expectOperationOutcome(await get(t, `/fhir/DiagnosticReport/${id}/files/presentedForm/-1`), 404);
    expectOperationOutcome(await get(t, `/fhir/DiagnosticReport/no-such-id/files/presentedForm`), 404);
    const other = await t.tokenFor(newOrganizationId());
    expectOperationOutcome(await get(t, filesPath('DiagnosticReport', id), other), 404);
    expectOperationOutcome(await get(t, filesPath('DiagnosticReport', id), null), 401);
    const head = await request(t.baseUrl).head(filesPath('DiagnosticReport', id)).set('Authorization', `Bearer ${other}`);
    expect(head.status).toBe(404);
  });

  it('refuses to store a captured signed URL in a resource (422), wherever it is put', async () => {
    const id = await createWithFiles(t, 'Media', [{ bytes: samples.png, name: 'w.png' }]);
    const location = await signedLocation(t, filesPath('Media', id));
    const send = (body: Json) =>
      request(t.baseUrl).post(`/fhir/${body.resourceType}`).set('Authorization', `Bearer ${token}`).set('Content-Type', FHIR_JSON).send(JSON.stringify(body));
    expectOperationOutcome(await send(resourceWith('Media', [{ url: location, contentType: 'image/png' }])), 422, /signed download URL/);
    expectOperationOutcome(await send({ ...resourceWith('Patient', []), extension: [{ url: location, valueString: 'x' }] }), 422, /signed download URL/);
  });

  it('keeps a linked file: DELETE through /files is 409 naming the resource, and the 307 still works', async () => {
    const file = await upload(t, samples.pdf, 'kept.pdf');
    const id = await create(t, 'Consent', [{ url: file.url }]);
    const refused = await request(t.baseUrl).delete(file.url).set('Authorization', `Bearer ${token}`).expect(409);
    expect(refused.body).toMatchObject({ code: 'file_in_use', message: expect.stringContaining(`Consent/${id}`) });
    expect((await get(t, filesPath('Consent', id))).status).toBe(307);
  });

  it('signs from the facts its link keeps (one database round trip); a file row removed around the API still serves nothing here', async () => {
    const file = await upload(t, samples.pdf, 'gone.pdf');
    const id = await create(t, 'Consent', [{ url: file.url }]);
    const db = new pg.Client({ connectionString: t.config.databaseUrl });
    await db.connect();
    await db.query('DELETE FROM stored_files WHERE organization_id = $1 AND file_name = $2', [org, file.url.split('/').pop()]);
    // A link made before links kept their facts (a replica of the previous release) is looked up: that file is gone.
    const older = await create(t, 'Consent', [{ url: (await upload(t, samples.pdf, 'older.pdf')).url }]);
    await db.query("UPDATE fhir_file_links SET content_type = NULL, original_name = NULL WHERE resource_id = $1", [older]);
    await db.query('DELETE FROM stored_files WHERE organization_id = $1 AND file_name IN (SELECT file_name FROM fhir_file_links WHERE resource_id = $2)', [org, older]);
    await db.end();
    expectOperationOutcome(await get(t, filesPath('Consent', older)), 404, /deleted/);
    // A linked file cannot be deleted through the service, so the 307 does not look the row up again.
    const location = await signedLocation(t, filesPath('Consent', id));
    // This service checks the row again when it serves a signed URL itself; S3 serves its object on its own.
    if (!onS3) expect((await fetchBare(location)).status).toBe(404);
  });

  it('redirects to an external http(s) attachment URL as it is; other attachments without content are 404', async () => {
    const external = 'https://images.example.org/wounds/2026-04-21.jpg?size=large';
    const id = await create(t, 'Patient', [
      { url: external, contentType: 'image/jpeg' },
      { url: 'urn:oid:1.2.3.4' },
      { title: 'described only' },
      { url: 'https://reader:secret@pacs.example.org/study/1' },
      { url: 'http://pacs.internal.example/study/2' },
    ]);
    const res = await get(t, filesPath('Patient', id));
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe(external);
    expect(res.headers['cache-control']).toBe('no-store');
    expectOperationOutcome(await get(t, filesPath('Patient', id, '/1')), 404, /no content this server can retrieve/);
    expectOperationOutcome(await get(t, filesPath('Patient', id, '/2')), 404, /no content this server can retrieve/);
    // A redirect would hand the credentials in the URL to whoever follows it.
    expectOperationOutcome(await get(t, filesPath('Patient', id, '/3')), 404, /no content this server can retrieve/);
    expect((await get(t, filesPath('Patient', id, '/4'))).headers.location).toBe('http://pacs.internal.example/study/2');
  });

  it('serves inline data of a resource this service did not write (imported rows) with 200 and the bytes', async () => {
    // Every write moves data into a stored file, so only a row written around the API can hold it.
    const db = new pg.Client({ connectionString: t.config.databaseUrl });
    await db.connect();
    const resource = { resourceType: 'Patient', id: 'imported-1', photo: [{ contentType: 'image/png', data: samples.png.toString('base64'), title: 'me.png' }] };
    await db.query(
      `INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, resource) VALUES ($1, 'Patient', 'imported-1', 1, now(), $2)`,
      [org, resource],
    );
    await db.end();
    const res = await get(t, '/fhir/Patient/imported-1/files/photo').buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect((res.body as Buffer).equals(samples.png)).toBe(true);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['content-disposition']).toBe('attachment; filename=me.png');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('real HTTP clients, sending the bearer token', () => {
  const bytes = pdfOfSize(256 * 1024);
  let url: string;
  let out: string;

  beforeEach(async () => {
    const id = await createWithFiles(t, 'DocumentReference', [{ bytes, name: 'discharge summary.pdf' }]);
    url = `${t.baseUrl}${filesPath('DocumentReference', id)}`;
    out = join(tempDir('client-'), 'downloaded.pdf');
  });

  /** What a client captured without following must work with no header at all. */
  async function expectUsableWithoutHeaders(location: string): Promise<void> {
    expect(location).toMatch(/^http:\/\//);
    const res = await fetchBare(location);
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
  }

  it('curl -L follows the redirect and gets the bytes; -w %{redirect_url} captures it', async () => {
    const followed = await run('curl', ['-sS', '-L', '-o', out, '-w', '%{http_code} %{num_redirects}', '-H', `Authorization: Bearer ${token}`, url]);
    expect(followed.stdout).toBe('200 1');
    expect((await readFile(out)).equals(bytes)).toBe(true);

    const captured = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', `Authorization: Bearer ${token}`, url]);
    const [status, location] = captured.stdout.split(' ');
    expect(status).toBe('307');
    await expectUsableWithoutHeaders(location!);
  });

  it("Node's fetch follows the redirect and gets the bytes; redirect: 'manual' captures it", async () => {
    const followed = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(followed.status).toBe(200);
    expect(followed.redirected).toBe(true);
    expect(Buffer.from(await followed.arrayBuffer()).equals(bytes)).toBe(true);

    const captured = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, redirect: 'manual' });
    expect(captured.status).toBe(307);
    await expectUsableWithoutHeaders(captured.headers.get('location')!);
  });

  it('axios follows the redirect and gets the bytes; maxRedirects: 0 captures it', async () => {
    const followed = await axios.get<ArrayBuffer>(url, { headers: { Authorization: `Bearer ${token}` }, responseType: 'arraybuffer' });
    expect(followed.status).toBe(200);
    expect(Buffer.from(followed.data).equals(bytes)).toBe(true);

    const captured = await axios.get(url, {
      headers: { Authorization: `Bearer ${token}` },
      maxRedirects: 0,
      validateStatus: (status) => status === 307,
    });
    await expectUsableWithoutHeaders(captured.headers.location as string);
  });

  it('Python requests follows the redirect and gets the bytes; allow_redirects=False captures it', async () => {
    const script = [
      'import sys, requests',
      'url, token, out = sys.argv[1:4]',
      'auth = {"Authorization": "Bearer " + token}',
      'r = requests.get(url, headers=auth, timeout=30)',
      'open(out, "wb").write(r.content)',
      'c = requests.get(url, headers=auth, allow_redirects=False, timeout=30)',
      'print(r.status_code, len(r.history), c.status_code, c.headers["Location"])',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, url, token, out]);
    const [status, redirects, capturedStatus, location] = stdout.trim().split(' ');
    expect([status, redirects, capturedStatus]).toEqual(['200', '1', '307']);
    expect((await readFile(out)).equals(bytes)).toBe(true);
    await expectUsableWithoutHeaders(location!);
  });

  if (onS3) {
    it('would have failed had a client forwarded the token to the object store', async () => {
      // S3 (here Ceph RGW) refuses a pre-signed URL that also carries an Authorization header,
      // so the 200s above show each client dropped the token on the cross-origin redirect.
      const location = await signedLocation(t, new URL(url).pathname);
      const res = await fetch(location, { headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/InvalidArgument/);
    });
  } else {
    it('the signed URL ignores an Authorization header, which same-origin redirects keep', async () => {
      const location = await signedLocation(t, new URL(url).pathname);
      const res = await fetchBare(location, { headers: { Authorization: 'Bearer not-a-token' } });
      expect(res.status).toBe(200);
      expect(res.body.equals(bytes)).toBe(true);
    });
  }
});

describe('signed URLs that expire after 2 s, on an app whose log is captured', () => {
  const logged: string[] = [];
  // Fields given after the message (the access line's) are logged too: capture them as the JSON log would.
  const capture = (...args: unknown[]) => void logged.push(args.map((a) => (typeof a === 'object' ? JSON.stringify(a) : String(a))).join(' '));
  const logger: LoggerService = { log: capture, error: capture, warn: capture, debug: capture, verbose: capture, fatal: capture };
  let short: TestApp;

  beforeAll(async () => {
    short = await startTestApp({ PRESIGN_EXPIRES_SECONDS: '2' }, storeProfile(), { logger });
  });
  afterAll(() => short.close());
  beforeEach(async () => {
    token = await short.tokenFor(org);
  });

  it('work at once and are refused with 403 after 3 s', async () => {
    const id = await createWithFiles(short, 'Practitioner', [{ bytes: samples.png, name: 'signature.png' }]);
    const location = await signedLocation(short, filesPath('Practitioner', id));
    expect((await fetchBare(location)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetchBare(location)).status).toBe(403);
  });

  /** Signed URLs of a Patient's two files (the PNG inline, the JPEG not), and the first one with one edit made. */
  async function twoSignedUrls() {
    const id = await createWithFiles(short, 'Patient', [{ bytes: samples.png, name: 'a.png' }, { bytes: samples.jpeg, name: 'b.jpg' }]);
    const a = new URL(await signedLocation(short, filesPath('Patient', id, '/0?disposition=inline')));
    const b = new URL(await signedLocation(short, filesPath('Patient', id, '/1')));
    const changed = (edit: (u: URL) => void) => {
      const u = new URL(a.href);
      edit(u);
      return u.href;
    };
    return { a, b, changed };
  }

  if (!onS3) {
    it('are refused with 403 when key, expiry, type, disposition, method or signature is changed', async () => {
      const { a, b, changed } = await twoSignedUrls();
      expect((await fetchBare(a.href)).status).toBe(200);
      const tampered = [
        changed((u) => (u.pathname = b.pathname)),
        changed((u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600))),
        changed((u) => u.searchParams.set('type', 'text/html')),
        changed((u) => u.searchParams.set('disposition', 'attachment; filename=a.png')),
        changed((u) => u.searchParams.set('method', 'HEAD')),
        changed((u) => u.searchParams.set('signature', b.searchParams.get('signature')!)),
        changed((u) => u.searchParams.delete('signature')),
        changed((u) => u.searchParams.append('signature', u.searchParams.get('signature')!)),
        changed((u) => (u.pathname = u.pathname.replace(org, newOrganizationId()))),
        changed((u) => (u.pathname = u.pathname.replace(org, org.toUpperCase()))),
        `${short.baseUrl}/signed-files/${org}/..%2F..%2F..%2Fetc%2Fpasswd${a.search}`,
      ];
      for (const url of tampered) {
        const res = await fetchBare(url);
        expect({ url, status: res.status }).toEqual({ url, status: 403 });
        expect(JSON.parse(res.body.toString()).statusCode).toBe(403);
      }
    });
  } else {
    it("are served by S3 as signed, and refused by it with 403 when key, type, disposition, expiry or signature is changed", async () => {
      const { a, b, changed } = await twoSignedUrls();
      const served = await fetchBare(a.href);
      expect(served.status).toBe(200);
      expect(served.body.equals(samples.png)).toBe(true);
      const tampered = [
        changed((u) => (u.pathname = b.pathname)),
        changed((u) => u.searchParams.set('response-content-type', 'text/html')),
        changed((u) => u.searchParams.set('response-content-disposition', 'attachment')),
        changed((u) => u.searchParams.set('X-Amz-Expires', '604800')),
        changed((u) => u.searchParams.set('X-Amz-Signature', b.searchParams.get('X-Amz-Signature')!)),
      ];
      for (const url of tampered) expect({ url, status: (await fetchBare(url)).status }).toEqual({ url, status: 403 });
    });

    it('leaves /signed-files/ unserved: S3 signs and serves its own URLs', async () => {
      expect((await fetchBare(`${short.baseUrl}/signed-files/${org}/${'0'.repeat(32)}.pdf?signature=x`)).status).toBe(404);
    });
  }

  it('never logs a signed URL or a token', async () => {
    const id = await createWithFiles(short, 'DocumentReference', [{ bytes: samples.pdf, name: 'r.pdf' }]);
    const location = new URL(await signedLocation(short, filesPath('DocumentReference', id)));
    expect((await fetchBare(location.href)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await fetchBare(location.href)).status).toBe(403); // expired: refusals must not log it either
    const signature = location.searchParams.get(onS3 ? 'X-Amz-Signature' : 'signature');
    expect(signature).toBeTruthy();
    const secrets = [location.search.slice(1), signature!, token];
    // The access log did record the requests: the capture works.
    expect(logged.some((line) => line.includes(`/fhir/DocumentReference/${id}/files/content 307`))).toBe(true);
    for (const line of logged) for (const secret of secrets) expect(line).not.toContain(secret);
  });
});

if (!onS3) {
  describe('signed URLs of the embedded store behind a proxy (PUBLIC_BASE_URL)', () => {
    let behind: TestApp;
    beforeAll(async () => {
      behind = await startTestApp({ PUBLIC_BASE_URL: 'https://attachments.example.org/api' });
    });
    afterAll(() => behind.close());
    beforeEach(async () => {
      token = await behind.tokenFor(org);
    });

    it('are absolute under PUBLIC_BASE_URL, whatever Host the request carries', async () => {
      const id = await createWithFiles(behind, 'Consent', [{ bytes: samples.pdf, name: 'consent.pdf' }]);
      const res = await request(behind.baseUrl).get(filesPath('Consent', id)).set('Authorization', `Bearer ${token}`).set('Host', 'evil.example');
      expect(res.status).toBe(307);
      const location: string = res.headers.location;
      expect(location.startsWith('https://attachments.example.org/api/signed-files/')).toBe(true);
      // What the proxy would forward: the same path and query, without the base path.
      const forwarded = await fetchBare(`${behind.baseUrl}${location.slice('https://attachments.example.org/api'.length)}`);
      expect(forwarded.status).toBe(200);
      expect(forwarded.body.equals(samples.pdf)).toBe(true);
    });
  });
}
