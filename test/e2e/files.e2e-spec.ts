import { createHash } from 'node:crypto';
import { truncate } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { newOrganizationId } from '../support/environment.js';
import { mp4OfSize, pdfOfSize, samples } from '../support/sample-files.js';
import { abortUploadMidway, eventually } from '../support/http.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';

const MAX = 52_428_800;

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

function upload(file: Buffer, filename: string, contentType?: string, bearer = token) {
  return request(t.baseUrl)
    .post('/files/upload')
    .set('Authorization', `Bearer ${bearer}`)
    .attach('file', file, contentType ? { filename, contentType } : { filename });
}

/** Nothing of this organization is stored: no row, no object, no unfinished write. */
async function expectNothingStored(organizationId: string): Promise<void> {
  expect(await t.rowsOf(organizationId)).toEqual([]);
  expect(await t.storedKeys(organizationId)).toEqual([]);
  expect(await t.unfinishedWrites()).toBe(0);
}

describe('POST /files/upload', () => {
  it('stores a PDF under the caller organization and answers 201 with key, detected type, size and url', async () => {
    const res = await upload(samples.pdf, 'lab-report.pdf', 'application/pdf').expect(201);

    expect(res.body).toEqual({
      key: expect.stringMatching(new RegExp(`^${org}/[0-9a-f]{32}\\.pdf$`)),
      contentType: 'application/pdf',
      size: samples.pdf.length,
      url: `/files/${res.body.key}`,
      sha256: createHash('sha256').update(samples.pdf).digest('hex'),
      originalName: 'lab-report.pdf',
      scanStatus: storeProfile() === 's3-clamav' ? 'clean' : 'not_scanned',
    });
    expect(res.headers.location).toBe(res.body.url);
    expect(await t.rowsOf(org)).toEqual([{ file_name: res.body.key.split('/')[1], status: 'available' }]);
    expect(await t.storedKeys(org)).toEqual([res.body.key]);
  });

  it.each([
    ['wound.jpeg', 'image/jpeg', 'image/jpeg', 'jpg', samples.jpeg],
    ['wound.JPG', 'image/jpg', 'image/jpeg', 'jpg', samples.jpeg],
    ['photo.png', 'image/png', 'image/png', 'png', samples.png],
    ['note.txt', 'text/plain; charset=utf-8', 'text/plain', 'txt', samples.text],
    ['export.json', 'application/json', 'application/json', 'json', samples.json],
    ['procedure.mp4', 'video/mp4', 'video/mp4', 'mp4', samples.mp4],
    ['report.pdf', 'application/octet-stream', 'application/pdf', 'pdf', samples.pdf],
    ['report.pdf', undefined, 'application/pdf', 'pdf', samples.pdf],
  ])('accepts %s declared as %s and reports the detected %s', async (name, declared, detected, ext, bytes) => {
    const res = await upload(bytes, name, declared).expect(201);
    expect(res.body.contentType).toBe(detected);
    expect(res.body.key).toMatch(new RegExp(`\\.${ext}$`));
  });

  it.each([
    ['a PNG named .pdf', samples.png, 'scan.pdf', 'application/pdf', /content is image\/png.*\.pdf/],
    ['a PDF declared as image/png', samples.pdf, 'scan.pdf', 'image/png', /declared type image\/png does not match the extension \.pdf/],
    ['a PNG declared as image/jpeg', samples.png, 'photo.png', 'image/jpeg', /declared type image\/jpeg/],
    ['text named .pdf', samples.text, 'report.pdf', undefined, /not a recognisable application\/pdf/],
    ['a PDF named .txt', samples.pdf, 'note.txt', 'text/plain', /content is application\/pdf/],
    ['binary bytes named .txt', Buffer.from([0x41, 0x00, 0x42]), 'note.txt', 'text/plain', /NUL bytes/],
    ['invalid UTF-8 named .txt', Buffer.from([0x41, 0xc3, 0x28]), 'note.txt', 'text/plain', /not valid UTF-8/],
    ['broken JSON', Buffer.from('{"status": "final",'), 'export.json', 'application/json', /not valid JSON/],
    ['an executable', Buffer.from('MZ\x90\x00'), 'setup.exe', undefined, /extension \.exe are not accepted/],
    ['HTML', Buffer.from('<html><script>alert(1)</script></html>'), 'page.html', 'text/html', /extension \.html/],
    ['a file without extension', samples.pdf, 'report', 'application/pdf', /no extension/],
  ])('refuses %s with 415 and says what disagreed', async (_case, bytes, name, declared, message) => {
    const res = await upload(bytes, name, declared).expect(415);
    expect(res.body).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type', message: expect.stringMatching(message) });
    await expectNothingStored(org);
  });

  it('refuses with 415 a type that ALLOWED_CONTENT_TYPES does not list', async () => {
    const narrow = await startTestApp({ ALLOWED_CONTENT_TYPES: 'application/pdf' });
    try {
      const res = await request(narrow.baseUrl)
        .post('/files/upload')
        .set('Authorization', `Bearer ${await narrow.tokenFor(org)}`)
        .attach('file', samples.png, { filename: 'photo.png', contentType: 'image/png' })
        .expect(415);
      expect(res.body.message).toContain('application/pdf');
    } finally {
      await narrow.close();
    }
  });

  it('accepts a file of exactly MAX_UPLOAD_BYTES and refuses one byte more with 413', async () => {
    const exact = await upload(mp4OfSize(MAX), 'procedure.mp4', 'video/mp4').expect(201);
    expect(exact.body.size).toBe(MAX);

    const over = await upload(mp4OfSize(MAX + 1), 'procedure.mp4', 'video/mp4').expect(413);
    expect(over.body.message).toContain(String(MAX));
    expect(await t.rowsOf(org)).toHaveLength(1);
  });

  it('refuses a body announcing more than the limit with 413 before reading it', async () => {
    const res = await request(t.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .set('Content-Length', String(MAX * 2))
      .send('--x\r\n')
      .ok(() => true);
    expect(res.status).toBe(413);
    await expectNothingStored(org);
  });

  it('refuses an empty file with 400', async () => {
    const res = await upload(Buffer.alloc(0), 'empty.pdf', 'application/pdf').expect(400);
    expect(res.body.message).toMatch(/empty/);
    await expectNothingStored(org);
  });

  it('refuses a request without the file field with 400', async () => {
    const res = await request(t.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${token}`)
      .field('note', 'no file here')
      .expect(400);
    expect(res.body.message).toMatch(/field 'file'/);
  });

  it('refuses a non-multipart body with 400', async () => {
    await request(t.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/pdf')
      .send(samples.pdf)
      .expect(400);
  });

  it('refuses two files with 400 and keeps neither', async () => {
    const res = await request(t.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${token}`)
      .attach('file', samples.pdf, { filename: 'a.pdf', contentType: 'application/pdf' })
      .attach('file', samples.pdf, { filename: 'b.pdf', contentType: 'application/pdf' })
      .expect(400);
    expect(res.body.statusCode).toBe(400);
    await expectNothingStored(org);
  });

  it('refuses a file in another field name with 400', async () => {
    await request(t.baseUrl)
      .post('/files/upload')
      .set('Authorization', `Bearer ${token}`)
      .attach('document', samples.pdf, { filename: 'a.pdf', contentType: 'application/pdf' })
      .expect(400);
    await expectNothingStored(org);
  });
});

describe('GET /files/:orgId/:fileName', () => {
  async function stored(bytes: Buffer, name: string, type: string): Promise<string> {
    return (await upload(bytes, name, type).expect(201)).body.url;
  }

  it('returns the bytes as an attachment with the detected type and safety headers', async () => {
    const url = await stored(samples.pdf, 'lab-report.pdf', 'application/pdf');
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).buffer(true).expect(200);

    expect(Buffer.compare(res.body as Buffer, samples.pdf)).toBe(0);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toBe('attachment; filename=lab-report.pdf');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain('sandbox');
    expect(res.headers['content-length']).toBe(String(samples.pdf.length));
    expect(res.headers.etag).toBe(`"${createHash('sha256').update(samples.pdf).digest('hex')}"`);
  });

  it('encodes a non-ASCII, path-laden file name per RFC 6266', async () => {
    const url = (await upload(samples.pdf, '..\\..\\Befund Müller\u202e.pdf', 'application/pdf').expect(201)).body.url;
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="Befund M?ller.pdf"; filename*=UTF-8''Befund%20M%C3%BCller.pdf`,
    );
  });

  it('serves images inline on ?disposition=inline but never a PDF', async () => {
    const png = await stored(samples.png, 'wound.png', 'image/png');
    const pdf = await stored(samples.pdf, 'consent.pdf', 'application/pdf');
    const auth = { Authorization: `Bearer ${token}` };

    const inline = await request(t.baseUrl).get(`${png}?disposition=inline`).set(auth).expect(200);
    expect(inline.headers['content-disposition']).toBe('inline; filename=wound.png');
    const still = await request(t.baseUrl).get(`${pdf}?disposition=inline`).set(auth).expect(200);
    expect(still.headers['content-disposition']).toMatch(/^attachment;/);
    await request(t.baseUrl).get(`${png}?disposition=render`).set(auth).expect(400);
  });

  it('serves text with its charset', async () => {
    const url = await stored(samples.text, 'note.txt', 'text/plain');
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.text).toBe(samples.text.toString('utf8'));
  });

  it('answers Range with 206, a suffix range, and an unsatisfiable range with 416', async () => {
    const bytes = mp4OfSize(10_000);
    const url = await stored(bytes, 'clip.mp4', 'video/mp4');
    const auth = { Authorization: `Bearer ${token}` };

    const first = await request(t.baseUrl).get(url).set(auth).set('Range', 'bytes=0-99').buffer(true).expect(206);
    expect(first.headers['content-range']).toBe('bytes 0-99/10000');
    expect(Buffer.compare(first.body as Buffer, bytes.subarray(0, 100))).toBe(0);

    const tail = await request(t.baseUrl).get(url).set(auth).set('Range', 'bytes=-10').buffer(true).expect(206);
    expect(Buffer.compare(tail.body as Buffer, bytes.subarray(-10))).toBe(0);

    const bad = await request(t.baseUrl).get(url).set(auth).set('Range', 'bytes=20000-').expect(416);
    expect(bad.headers['content-range']).toBe('bytes */10000');
    expect(bad.headers['content-type']).toMatch(/^application\/json/);
    expect(bad.body).toMatchObject({ statusCode: 416, code: 'range_not_satisfiable' });

    // RFC 9110: the unit is case-insensitive, and a range that ends before it starts makes the header invalid (ignored).
    const upper = await request(t.baseUrl).get(url).set(auth).set('Range', 'BYTES=0-3').buffer(true).expect(206);
    expect(upper.headers['content-range']).toBe('bytes 0-3/10000');
    const backwards = await request(t.baseUrl).get(url).set(auth).set('Range', 'bytes=5-2').buffer(true).expect(200);
    expect(backwards.headers['content-length']).toBe('10000');

    const stale = await request(t.baseUrl).get(url).set(auth).set('Range', 'bytes=0-9').set('If-Range', '"other"').expect(200);
    expect(stale.headers['content-length']).toBe('10000');
  });

  it('answers If-None-Match with the current ETag with 304', async () => {
    const url = await stored(samples.png, 'wound.png', 'image/png');
    const auth = { Authorization: `Bearer ${token}` };
    const { headers } = await request(t.baseUrl).get(url).set(auth).expect(200);
    await request(t.baseUrl).get(url).set(auth).set('If-None-Match', headers.etag).expect(304);
  });

  it('answers If-None-Match: * with 304 for a file that exists', async () => {
    const url = await stored(samples.pdf, 'lab.pdf', 'application/pdf');
    await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).set('If-None-Match', '*').expect(304);
  });

  it('ignores a Range in a unit other than bytes and answers 200 with the whole file', async () => {
    const url = await stored(samples.pdf, 'lab.pdf', 'application/pdf');
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).set('Range', 'items=0-5').buffer(true).expect(200);
    expect((res.body as Buffer).equals(samples.pdf)).toBe(true);
    expect(res.headers['content-range']).toBeUndefined();
  });

  it('answers HEAD with the headers and no body', async () => {
    const url = await stored(samples.pdf, 'lab.pdf', 'application/pdf');
    const res = await request(t.baseUrl).head(url).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.headers['content-length']).toBe(String(samples.pdf.length));
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.text).toBeUndefined();
  });

  it('answers a plain JSON 404, without the file headers, when the bytes have vanished', async () => {
    const { url, key } = (await upload(samples.png, 'wound.png', 'image/png').expect(201)).body;
    await t.removeObject(key);
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    expect(res.body).toMatchObject({ statusCode: 404 });
  });

  it('answers 404 for a missing or malformed file name in the caller organization', async () => {
    const auth = { Authorization: `Bearer ${token}` };
    const missing = await request(t.baseUrl).get(`/files/${org}/${'0'.repeat(32)}.pdf`).set(auth).expect(404);
    expect(missing.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
    await request(t.baseUrl).get(`/files/${org}/..%2F..%2Fetc%2Fpasswd`).set(auth).expect(404);
  });
});

describe('DELETE /files/:orgId/:fileName', () => {
  it('answers 204 and removes bytes and metadata for good', async () => {
    const { url, key } = (await upload(samples.pdf, 'lab.pdf', 'application/pdf').expect(201)).body;
    const auth = { Authorization: `Bearer ${token}` };

    await request(t.baseUrl).delete(url).set(auth).expect(204);

    await request(t.baseUrl).get(url).set(auth).expect(404);
    // A retried DELETE (its first answer lost on the way) learns the file is gone, as it asked.
    await request(t.baseUrl).delete(url).set(auth).expect(204);
    expect(await t.storedKeys(org)).not.toContain(key);
    await expectNothingStored(org);
  });

  it('answers 404 for a file that never existed', async () => {
    await request(t.baseUrl).delete(`/files/${org}/${'0'.repeat(32)}.pdf`).set('Authorization', `Bearer ${token}`).expect(404);
  });
});

describe('GET /files and /files/:orgId/:fileName/metadata', () => {
  it("lists the organization's files newest first, a page at a time, with what links each", async () => {
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) keys.push((await upload(samples.pdf, `r${i}.pdf`, 'application/pdf').expect(201)).body.key);
    const linked = keys[1]!;
    const patient = await request(t.baseUrl)
      .post('/fhir/Patient')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'Patient', photo: [{ url: `/files/${linked}` }] }))
      .expect(201);
    const patientId = JSON.parse(patient.text).id;

    const seen: Array<Record<string, unknown>> = [];
    let next: string | undefined = '/files?limit=2';
    while (next) {
      const res: request.Response = await request(t.baseUrl).get(next).set('Authorization', `Bearer ${token}`).expect(200);
      seen.push(...res.body.files);
      next = res.body.next;
      if (next) expect(res.headers.link).toBe(`<${next}>; rel="next"`);
    }
    expect(seen.map((f) => f.key)).toEqual([...keys].reverse());
    expect(seen.find((f) => f.key === linked)).toMatchObject({ linkedBy: [`Patient/${patientId}`], contentType: 'application/pdf', size: samples.pdf.length });
    expect(seen.filter((f) => f.key !== linked).every((f) => (f.linkedBy as string[]).length === 0)).toBe(true);
    expect(seen[0]).toEqual({
      key: keys[4], url: `/files/${keys[4]}`, contentType: 'application/pdf', size: samples.pdf.length, originalName: 'r4.pdf',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/), scanStatus: expect.any(String), createdAt: expect.any(String), linkedBy: [],
    });

    // Another organization sees none of them.
    const theirs = await request(t.baseUrl).get('/files').set('Authorization', `Bearer ${await t.tokenFor(newOrganizationId())}`).expect(200);
    expect(theirs.body.files).toEqual([]);
  });

  it('refuses a bad limit or a cursor it did not hand out with 400', async () => {
    for (const query of ['limit=0', 'limit=101', 'limit=x', 'cursor=abc']) {
      const res = await request(t.baseUrl).get(`/files?${query}`).set('Authorization', `Bearer ${token}`).expect(400);
      expect(res.body.code).toBe('invalid_request');
    }
  });

  it("answers one file's metadata, 404 for an unknown one and 403 for another organization's", async () => {
    const { key, url } = (await upload(samples.png, 'wound.png', 'image/png').expect(201)).body;
    const res = await request(t.baseUrl).get(`${url}/metadata`).set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body).toMatchObject({ key, contentType: 'image/png', originalName: 'wound.png', linkedBy: [] });
    await request(t.baseUrl).get(`/files/${org}/${'0'.repeat(32)}.png/metadata`).set('Authorization', `Bearer ${token}`).expect(404);
    await request(t.baseUrl).get(`/files/${newOrganizationId()}/${'0'.repeat(32)}.png/metadata`).set('Authorization', `Bearer ${token}`).expect(403);
  });
});

describe('deleting a file that resources link', () => {
  const link = (url: string) =>
    request(t.baseUrl)
      .post('/fhir/DiagnosticReport')
      .set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/fhir+json')
      .send(JSON.stringify({ resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, presentedForm: [{ url }] }))
      .expect(201)
      .then((res) => JSON.parse(res.text).id as string);

  it('is refused with 409 naming them; the file stays, and goes with the last of them', async () => {
    const { key, url } = (await upload(samples.pdf, 'report.pdf', 'application/pdf').expect(201)).body;
    const [a, b] = [await link(url), await link(url)];
    const refused = await request(t.baseUrl).delete(url).set('Authorization', `Bearer ${token}`).expect(409);
    expect(refused.body).toMatchObject({ code: 'file_in_use', message: expect.stringContaining(`DiagnosticReport/${a}`) });
    expect(refused.body.message).toContain(`DiagnosticReport/${b}`);
    expect(await t.storedKeys(org)).toEqual([key]);

    for (const id of [a, b]) {
      await request(t.baseUrl).delete(`/fhir/DiagnosticReport/${id}`).set('Authorization', `Bearer ${token}`).expect(204);
    }
    expect(await t.storedKeys(org)).toEqual([]);
    // A client that deletes the resource, then its file, as the product document advises, is told it is gone.
    await request(t.baseUrl).delete(url).set('Authorization', `Bearer ${token}`).expect(204);
    await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).expect(404);
  });
});

describe('organization isolation', () => {
  it('refuses another organization with 403 on download, HEAD and delete, and leaves the file intact', async () => {
    const { url } = (await upload(samples.pdf, 'lab.pdf', 'application/pdf').expect(201)).body;
    const intruder = { Authorization: `Bearer ${await t.tokenFor(newOrganizationId())}` };

    const res = await request(t.baseUrl).get(url).set(intruder).expect(403);
    expect(res.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
    expect(JSON.stringify(res.body)).not.toContain(url.split('/').pop());
    await request(t.baseUrl).head(url).set(intruder).expect(403);
    await request(t.baseUrl).delete(url).set(intruder).expect(403);

    await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).expect(200);
  });

  it('answers 403 for another organization even when the file does not exist (no existence oracle)', async () => {
    await request(t.baseUrl)
      .get(`/files/${newOrganizationId()}/${'0'.repeat(32)}.pdf`)
      .set('Authorization', `Bearer ${token}`)
      .expect(403);
  });

  it('does not find another organization file under the caller own prefix', async () => {
    const other = newOrganizationId();
    const { key } = (await upload(samples.pdf, 'lab.pdf', 'application/pdf', await t.tokenFor(other)).expect(201)).body;
    await request(t.baseUrl)
      .get(`/files/${org}/${key.split('/')[1]}`)
      .set('Authorization', `Bearer ${token}`)
      .expect(404);
  });
});

describe('aborted uploads', () => {
  it('leaves no row, no object and no temp file when the client disconnects mid-body', async () => {
    await abortUploadMidway(t.baseUrl, token, 5_000_000, 20_000_000);
    await eventually(() => expectNothingStored(org));
  });
});

describe('upload capacity', () => {
  it('answers 503 with Retry-After beyond MAX_CONCURRENT_UPLOADS, and frees the slot when an upload ends', async () => {
    const errors: string[] = [];
    const errorLog = { log: () => undefined, warn: () => undefined, error: (m: unknown) => void errors.push(String(m)) };
    const one = await startTestApp({ MAX_CONCURRENT_UPLOADS: '1' }, storeProfile(), { logger: errorLog });
    try {
      const bearer = await one.tokenFor(org);
      const { request: httpRequest } = await import('node:http');
      // A slow upload holds the only slot: headers and part of the body, then nothing.
      const slow = httpRequest(`${one.baseUrl}/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'multipart/form-data; boundary=b', 'Content-Length': '100000' },
      });
      slow.on('error', () => undefined);
      slow.write('--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4');
      await new Promise((r) => setTimeout(r, 200));

      const refused = await request(one.baseUrl)
        .post('/files/upload')
        .set('Authorization', `Bearer ${bearer}`)
        .attach('file', samples.pdf, { filename: 'b.pdf' })
        .ok(() => true);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('2');
      expect(refused.body.code).toBe('upload_capacity');

      slow.destroy();
      await eventually(async () => {
        await request(one.baseUrl).post('/files/upload').set('Authorization', `Bearer ${bearer}`).attach('file', samples.pdf, { filename: 'c.pdf' }).expect(201);
      });
      // A client that hangs up mid-body is no error of the service's.
      expect(errors).toEqual([]);
    } finally {
      await one.close();
    }
  });
});

describe('error bodies', () => {
  it('are JSON with statusCode, error, message and request id, and never a stack', async () => {
    const res = await upload(samples.png, 'x.pdf', 'application/pdf').set('X-Request-Id', 'trace-123').expect(415);
    expect(Object.keys(res.body).sort()).toEqual(['code', 'error', 'message', 'requestId', 'statusCode']);
    expect(res.body.requestId).toBe('trace-123');
    expect(res.headers['x-request-id']).toBe('trace-123');
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+|\/tmp\/|node_modules/);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await request(t.baseUrl).get('/nope').set('Authorization', `Bearer ${token}`).expect(404);
    expect(res.body).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });
});

/** GET of `path` read at `bytesPerTick` per 10 ms (all at once without it): its status and SHA-256. */
function download(path: string, headers: Record<string, string>, bytesPerTick?: number): Promise<{ status: number; sha256: string; length: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, t.baseUrl), { headers }, (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
        if (bytesPerTick === undefined) return;
        res.pause();
        setTimeout(() => res.resume(), Math.ceil((10 * chunk.length) / bytesPerTick));
      });
      res.on('end', () => resolve({ status: res.statusCode!, sha256: hash.digest('hex'), length }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('large files', () => {
  it('serves 50 MiB of random bytes intact to concurrent downloads, a slow reader and ranges across read chunks', async () => {
    const bytes = mp4OfSize(50 * 1024 * 1024);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const { url } = (await upload(bytes, 'procedure.mp4', 'video/mp4').expect(201)).body;
    const auth = { Authorization: `Bearer ${token}` };
    // The store reads into buffers it reuses: a buffer filled again before its bytes left would show here.
    const answers = await Promise.all([
      download(url, auth),
      download(url, auth),
      download(url, auth, 4 * 1024 * 1024),
      download(url, { ...auth, Range: `bytes=${1024 * 1024 - 3}-${3 * 1024 * 1024 + 5}` }),
      download(url, { ...auth, Range: 'bytes=-1000001' }),
    ]);
    expect(answers).toEqual([
      { status: 200, sha256: sha(bytes), length: bytes.length },
      { status: 200, sha256: sha(bytes), length: bytes.length },
      { status: 200, sha256: sha(bytes), length: bytes.length },
      { status: 206, sha256: sha(bytes.subarray(1024 * 1024 - 3, 3 * 1024 * 1024 + 6)), length: 2 * 1024 * 1024 + 9 },
      { status: 206, sha256: sha(bytes.subarray(bytes.length - 1000001)), length: 1000001 },
    ]);
  }, 120_000);

  it('keeps serving after a client leaves in the middle of a 50 MiB download', async () => {
    const bytes = mp4OfSize(50 * 1024 * 1024);
    const { url, sha256 } = (await upload(bytes, 'procedure.mp4', 'video/mp4').expect(201)).body;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(new URL(url, t.baseUrl), { headers: { Authorization: `Bearer ${token}` } }, (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > 5 * 1024 * 1024) req.destroy();
        });
      });
      req.on('close', resolve);
      req.on('error', (e) => (req.destroyed ? resolve() : reject(e)));
    });
    expect(await download(url, { Authorization: `Bearer ${token}` })).toEqual({ status: 200, sha256, length: bytes.length });
  }, 60_000);

  it('cuts a download whose stored file is found shorter than its record, rather than hang or send other bytes', async () => {
    if (storeProfile() !== 'fs') return; // an S3 object cannot change under its key
    const bytes = mp4OfSize(8 * 1024 * 1024);
    const { url, key } = (await upload(bytes, 'procedure.mp4', 'video/mp4').expect(201)).body;
    await truncate(join(t.config.dataDir, 'objects', key), 3 * 1024 * 1024);
    const started = Date.now();
    const got = await new Promise<{ length: number; cut: boolean }>((resolve) => {
      let length = 0;
      const req = http.get(new URL(url, t.baseUrl), { headers: { Authorization: `Bearer ${token}` } }, (res) => {
        res.on('data', (c: Buffer) => (length += c.length));
        res.on('end', () => resolve({ length, cut: false }));
        res.on('error', () => resolve({ length, cut: true }));
        res.on('aborted', () => resolve({ length, cut: true }));
      });
      req.on('error', () => resolve({ length, cut: true }));
    });
    expect(got.cut).toBe(true);
    expect(got.length).toBeLessThanOrEqual(3 * 1024 * 1024);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('round-trips a 20 MB PDF byte for byte', async () => {
    const bytes = pdfOfSize(20 * 1024 * 1024);
    const { url, sha256 } = (await upload(bytes, 'imaging.pdf', 'application/pdf').expect(201)).body;
    expect(sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const res = await request(t.baseUrl).get(url).set('Authorization', `Bearer ${token}`).buffer(true).expect(200);
    expect(createHash('sha256').update(res.body as Buffer).digest('hex')).toBe(sha256);
  });
});
