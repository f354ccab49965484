import { randomBytes } from 'node:crypto';
import { OrphanFileSweeper } from '../../libs/fhir/src/application/orphan-file.sweeper.js';
import { ApiClient, fhirBody } from '../support/api.js';
import { newOrganizationId, scratchDatabase } from '../support/environment.js';
import { expectOperationOutcome, resourceWith, type Json } from '../support/fhir.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, storeProfile, type TestApp } from '../support/test-app.js';
import { MiB } from '../support/upload-client.js';

/**
 * What a FHIR write accepts and refuses beyond the R4 definitions: links to
 * this service's files however a client spells them, inline data of real
 * sizes, and nothing that could hide bytes, credentials or prototype keys.
 */

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');

let t: TestApp;
let org: string;
let api: ApiClient;

beforeAll(async () => {
  // Large enough for 15 MiB of inline data: base64 is a third larger than the file.
  t = await startTestApp({ FHIR_MAX_BODY_BYTES: String(24 * MiB) });
});
afterAll(() => t.close());

beforeEach(async () => {
  org = newOrganizationId();
  api = await ApiClient.for(t, org);
});

const issuesOf = (outcome: Json) => outcome.issue.map((i: Json) => ({ expression: i.expression?.[0], text: i.details.text }));

describe("links to this service's files, however the client spells them", () => {
  const spellings: Array<[string, (url: string) => string]> = [
    ['relative', (u) => u],
    ['absolute, on the origin the request came to', (u) => `${t.baseUrl}${u}`],
    ['with the scheme and host in upper case', (u) => `${t.baseUrl.toUpperCase()}${u}`],
    ['with /FILES/ in upper case', (u) => `${t.baseUrl}${u.replace('/files/', '/FILES/')}`],
    ['with dot segments', (u) => `${t.baseUrl}/fhir/../x/./../files/${u.slice('/files/'.length)}`],
    ['percent-encoded', (u) => `${t.baseUrl}${u.replace('/files/', '/%66iles/')}`],
  ];

  it.each(spellings)('%s: links the file, fills in its facts and stores the relative url', async (_how, spell) => {
    const file = await api.upload(samples.pdf, 'report.pdf');
    const res = await api.write('post', '/DocumentReference', resourceWith('DocumentReference', [{ url: spell(file.url) }], 'p-1'));
    expect(res.status).toBe(201);
    const created = fhirBody(res);
    expect(created.content[0].attachment).toMatchObject({ url: file.url, size: samples.pdf.length, contentType: 'application/pdf' });
    const metadata = await api.get(`${file.url}/metadata`).expect(200);
    expect(metadata.body.linkedBy).toEqual([`DocumentReference/${created.id}`]);
  });

  it.each(spellings.slice(1))("refuses another organization's file, %s, with 403 naming a file", async (_how, spell) => {
    const other = await ApiClient.for(t, newOrganizationId());
    const theirs = await other.upload(samples.pdf, 'theirs.pdf');
    const res = await api.write('post', '/Media', resourceWith('Media', [{ url: spell(theirs.url) }], 'p-1'));
    expectOperationOutcome(res, 403, /This file belongs to another organization/);
    expect((await other.get(`${theirs.url}/metadata`).expect(200)).body.linkedBy).toEqual([]);
  });

  it('recognises PUBLIC_BASE_URL however it is written, and PUBLIC_BASE_URL_ALIASES', async () => {
    const app = await startTestApp({ PUBLIC_BASE_URL: 'https://attachments.example.org/api', PUBLIC_BASE_URL_ALIASES: 'http://attachments.internal:8080' });
    try {
      const client = await ApiClient.for(app, org);
      for (const base of [
        'https://ATTACHMENTS.example.org:443/api',
        'https://attachments.example.org/api/./x/..',
        'http://attachments.internal:8080',
        'HTTP://attachments.internal:8080/.',
      ]) {
        const file = await client.upload(samples.png, 'photo.png');
        const res = await client.write('post', '/Patient', resourceWith('Patient', [{ url: `${base}${file.url}` }]));
        expect({ base, status: res.status }).toEqual({ base, status: 201 });
        expect(fhirBody(res).photo[0]).toMatchObject({ url: file.url, size: samples.png.length });
      }
      // The request's own origin is not this service's public address when PUBLIC_BASE_URL says otherwise.
      const file = await client.upload(samples.png, 'photo.png');
      const external = await client.write('post', '/Patient', resourceWith('Patient', [{ url: `${app.baseUrl}${file.url}` }]));
      expect(fhirBody(external).photo[0]).toEqual({ url: `${app.baseUrl}${file.url}` });
    } finally {
      await app.close();
    }
  });

  it('keeps a file that no resource links: the never-linked sweep is off unless ORPHAN_GRACE_HOURS is set', async () => {
    // Its own database: the sweeper crosses organizations.
    const database = await scratchDatabase();
    const app = await startTestApp({ DATABASE_URL: database.url });
    try {
      const client = await ApiClient.for(app, org);
      const file = await client.upload(samples.pdf, 'kept.pdf');
      const aYearLater = new Date(Date.now() + 365 * 24 * 3600_000);
      await app.app.get(OrphanFileSweeper, { strict: false }).sweep(aYearLater);
      expect(await app.storedKeys(org)).toEqual([file.key]);
      await client.get(file.url).expect(200);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});

describe('inline data', () => {
  it.each([1, 5, 15])('stores %i MiB of inline data as a file, byte for byte, and keeps only its url', async (mib) => {
    const bytes = Buffer.concat([samples.pdf, randomBytes(mib * MiB - samples.pdf.length)]);
    const body = resourceWith('DiagnosticReport', [{ contentType: 'application/pdf', title: 'scan.pdf', data: bytes.toString('base64') }], 'p-1');
    const res = await api.write('post', '/DiagnosticReport', body);
    expect(res.status).toBe(201);
    const attachment = fhirBody(res).presentedForm[0];
    expect(attachment).toMatchObject({ contentType: 'application/pdf', size: bytes.length, url: expect.stringMatching(/^\/files\//) });
    expect(attachment.data).toBeUndefined();
    const download = await api.get(attachment.url).buffer(true).expect(200);
    expect((download.body as Buffer).equals(bytes)).toBe(true);
  }, 60_000);

  it('refuses inline data that is not base64, naming the element', async () => {
    const res = await api.write('post', '/Media', resourceWith('Media', [{ contentType: 'image/png', data: 'not base64!' }], 'p-1'));
    expect(issuesOf(expectOperationOutcome(res, 422))).toEqual([{ expression: 'Media.content.data', text: 'data is not valid base64' }]);
  });
});

describe('what a stored resource may never carry', () => {
  const patient = () => resourceWith('Patient', []);

  it('bytes outside the attachment field: valueAttachment.data and valueBase64Binary of an extension, EICAR or not', async () => {
    const res = await api.write('post', '/Patient', {
      ...patient(),
      extension: [
        { url: 'https://example.org/scan', valueAttachment: { data: EICAR.toString('base64') } },
        { url: 'https://example.org/blob', valueBase64Binary: samples.png.toString('base64') },
      ],
    });
    expect(issuesOf(expectOperationOutcome(res, 422)).map((i: Json) => i.expression)).toEqual([
      'Patient.extension[0].valueAttachment.data',
      'Patient.extension[1].valueBase64Binary',
    ]);
    expect(await t.rowsOf(org)).toEqual([]);
  });

  it('a signed URL in any string: an extension value, a telecom, a note quoting one', async () => {
    const signed = `${t.baseUrl}/signed-files/${org}/0123456789abcdef0123456789abcdef.pdf?method=GET&expires=9999999999&signature=abc`;
    const s3 = 'https://bucket.s3.eu-central-1.amazonaws.com/org/f.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b';
    const res = await api.write('post', '/Patient', {
      ...patient(),
      extension: [
        { url: 'https://example.org/a', valueUrl: signed },
        { url: 'https://example.org/b', valueUri: s3 },
      ],
      telecom: [{ system: 'url', value: s3 }],
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">Scan at ${s3.replaceAll('&', '&amp;')}</div>` },
    });
    expect(issuesOf(expectOperationOutcome(res, 422)).map((i: Json) => i.expression)).toEqual([
      'Patient.extension[0].valueUrl',
      'Patient.extension[1].valueUri',
      'Patient.telecom[0].value',
      'Patient.text.div',
    ]);
  });

  it.each([
    ['__proto__ at the top', '{"resourceType":"Patient","__proto__":{"admin":true}}', 'Patient.__proto__'],
    ['constructor inside an element', '{"resourceType":"Patient","name":[{"family":"Doe","constructor":{"prototype":{"x":1}}}]}', 'Patient.name[0].constructor'],
    ['__proto__ inside an extension', '{"resourceType":"Patient","extension":[{"url":"https://example.org/x","__proto__":{"valueString":"y"}}]}', 'Patient.extension[0].__proto__'],
  ])('a %s key, refused with 422 and never reaching a prototype', async (_case, json, expression) => {
    const res = await api.write('post', '/Patient', json);
    expect(issuesOf(expectOperationOutcome(res, 422))).toContainEqual(expect.objectContaining({ expression }));
    expect(({} as Json).admin).toBeUndefined();
    expect(fhirBody(await api.fhir('get', '/Patient').expect(200)).total).toBe(0);
  });

  it.each([
    ['a lone high surrogate in a name', '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}', 'Patient.name[0].family'],
    ['a lone low surrogate in narrative text', '{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">\\udc00</div>"}}', 'Patient.text.div'],
    ['a lone surrogate in a property name', '{"resourceType":"Patient","\\ud800x":1}', 'Patient.\ud800x'],
  ])('%s: refused with 422 (valid JSON, but no character; Postgres would refuse it)', async (_case, json, expression) => {
    const res = await api.write('post', '/Patient', json);
    expect(issuesOf(expectOperationOutcome(res, 422))).toContainEqual(expect.objectContaining({ expression }));
  });

  it('an empty string anywhere, Attachment.url included', async () => {
    const res = await api.write('post', '/Patient', { ...patient(), photo: [{ url: '' }], name: [{ family: 'Doe', given: [''] }] });
    expect(issuesOf(expectOperationOutcome(res, 422)).map((i: Json) => i.expression)).toEqual(expect.arrayContaining(['Patient.photo[0].url', 'Patient.name[0].given[0]']));
  });
});

describe('errors a client can act on', () => {
  it('take the type from the URL when the body names none, and say where a wrong one belongs', async () => {
    const { resourceType: _, ...untyped } = resourceWith('Patient', []);
    expect((await api.write('post', '/Patient', untyped)).status).toBe(201);
    expectOperationOutcome(await api.write('post', '/DocumentReference', resourceWith('Patient', [])), 400, /is a Patient resource, but the URL is for DocumentReference; send it to \/fhir\/Patient/);
  });

  it('name the element of an attachment: DocumentReference.content[0].attachment.url', async () => {
    const res = await api.write('post', '/DocumentReference', resourceWith('DocumentReference', [{ url: `/files/${org}/0123456789abcdef0123456789abcdef.pdf` }], 'p-1'));
    expect(issuesOf(expectOperationOutcome(res, 422))).toEqual([
      { expression: 'DocumentReference.content[0].attachment.url', text: expect.stringContaining('is not an available file') },
    ]);
  });
});

describe('FHIR_REQUIRE_IF_MATCH', () => {
  it('makes PUT and DELETE without If-Match a 428 that says what to send; with it they work', async () => {
    const app = await startTestApp({ FHIR_REQUIRE_IF_MATCH: 'true' });
    try {
      const client = await ApiClient.for(app, org);
      const created = fhirBody(await client.write('post', '/Patient', resourceWith('Patient', [])).expect(201));
      const path = `/Patient/${created.id}`;
      expectOperationOutcome(await client.write('put', path, created), 428, /If-Match/);
      expectOperationOutcome(await client.fhir('delete', path), 428, /If-Match/);
      // "*" says the resource exists, not which version was read: not enough here.
      expectOperationOutcome(await client.write('put', path, created, { 'If-Match': '*' }), 428, /If-Match/);
      await client.write('put', path, created, { 'If-Match': 'W/"1"' }).expect(200);
      await client.fhir('delete', path, { 'If-Match': 'W/"2"' }).expect(204);
    } finally {
      await app.close();
    }
  });

  it('is off by default: a PUT without If-Match replaces the resource (last write wins)', async () => {
    const created = fhirBody(await api.write('post', '/Patient', resourceWith('Patient', [])).expect(201));
    const res = await api.write('put', `/Patient/${created.id}`, { ...created, gender: 'male' }).expect(200);
    expect(fhirBody(res)).toMatchObject({ gender: 'male', meta: { versionId: '2' } });
  });

  it('takes If-Match: * (RFC 9110: whichever version exists) on PUT and DELETE', async () => {
    const created = fhirBody(await api.write('post', '/Patient', resourceWith('Patient', [])).expect(201));
    const path = `/Patient/${created.id}`;
    await api.write('put', path, { ...created, gender: 'other' }, { 'If-Match': '*' }).expect(200);
    await api.fhir('delete', path, { 'If-Match': '*' }).expect(204);
    expectOperationOutcome(await api.write('put', path, created, { 'If-Match': '*' }), 404);
  });
});

if (storeProfile() === 's3-clamav') {
  describe('inline data on the scanned stack', () => {
    it('is scanned like an upload, wherever the attachment field puts it', async () => {
      const body = resourceWith('DocumentReference', [{ contentType: 'text/plain', data: EICAR.toString('base64') }], 'p-1');
      expectOperationOutcome(await api.write('post', '/DocumentReference', body), 422, /Eicar-Test-Signature/);
      expect(await t.storedKeys(org)).toEqual([]);
    });
  });
}
