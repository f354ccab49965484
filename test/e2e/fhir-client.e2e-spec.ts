import { Client, RESPONSE_KEY } from 'fhir-kit-client';
import request from 'supertest';
import { newOrganizationId } from '../support/environment.js';
import { attachmentsIn, FHIR_TYPES, resourceWith, type Json } from '../support/fhir.js';
import { samples } from '../support/sample-files.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The same server driven by fhir-kit-client, a maintained FHIR client: if our
 * wire format (media types, Bundles, links, OperationOutcomes, headers) were
 * off, someone else's code would notice.
 */
let t: TestApp;
let org: string;
let client: Client;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

beforeEach(async () => {
  org = newOrganizationId();
  client = new Client({ baseUrl: `${t.baseUrl}/fhir`, bearerToken: await t.tokenFor(org) });
});

async function uploadPdf(): Promise<Json> {
  const res = await request(t.baseUrl).post('/files/upload').set('Authorization', `Bearer ${await t.tokenFor(org)}`).attach('file', samples.pdf, 'r.pdf');
  return res.body;
}

/** The status and OperationOutcome of a request the client rejected. */
async function failure(promise: Promise<unknown>): Promise<{ status: number; outcome: Json }> {
  const error = (await promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  )) as { response: { status: number; data: Json } };
  return { status: error.response.status, outcome: error.response.data };
}

it('reads the CapabilityStatement', async () => {
  const statement = (await client.capabilityStatement()) as Json;
  expect(statement.resourceType).toBe('CapabilityStatement');
  expect(statement.rest[0].resource.map((r: Json) => r.type)).toEqual(expect.arrayContaining([...FHIR_TYPES]));
});

it.each(FHIR_TYPES)('creates, reads, updates, searches and deletes a %s with a linked file', async (type) => {
  const file = await uploadPdf();
  const created = (await client.create({ resourceType: type, body: resourceWith(type, [{ url: file.url }], 'p-9') as never })) as Json;
  expect(created.meta.versionId).toBe('1');
  expect(attachmentsIn(type, created)[0]).toMatchObject({ url: file.url, contentType: 'application/pdf', size: samples.pdf.length });
  const response = (created as Json)[RESPONSE_KEY] as Response;
  expect(response.status).toBe(201);
  expect(response.headers.get('etag')).toBe('W/"1"');
  expect(response.headers.get('location')).toBe(`${t.baseUrl}/fhir/${type}/${created.id}`);

  const read = (await client.read({ resourceType: type, id: created.id })) as Json;
  expect(read.id).toBe(created.id);

  const updated = (await client.update({
    resourceType: type,
    id: created.id,
    body: { ...read, meta: undefined } as never,
    options: { headers: { 'If-Match': 'W/"1"' } },
  })) as Json;
  expect(updated.meta.versionId).toBe('2');

  const bundle = (await client.search({ resourceType: type, searchParams: { _id: created.id } })) as Json;
  expect(bundle.type).toBe('searchset');
  expect(bundle.entry.map((e: Json) => e.resource.id)).toEqual([created.id]);

  await client.delete({ resourceType: type, id: created.id });
  expect(await failure(client.read({ resourceType: type, id: created.id }))).toMatchObject({
    status: 404,
    outcome: { resourceType: 'OperationOutcome' },
  });
  expect(await t.storedKeys(org)).toEqual([]);
});

it('follows next links page by page', async () => {
  for (let i = 0; i < 3; i++) await client.create({ resourceType: 'Patient', body: resourceWith('Patient', []) as never });
  let page = (await client.search({ resourceType: 'Patient', searchParams: { _count: 2 } })) as Json | undefined;
  const ids: string[] = [];
  while (page) {
    ids.push(...(page.entry ?? []).map((e: Json) => e.resource.id));
    page = (await client.nextPage({ bundle: page as never })) as Json | undefined;
  }
  expect(new Set(ids).size).toBe(3);
});

it('gets a 422 OperationOutcome for an invalid resource and a 412 for a stale If-Match', async () => {
  const invalid = await failure(client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', gender: 'robot' } as never }));
  expect(invalid.status).toBe(422);
  expect(invalid.outcome.issue[0]).toMatchObject({ severity: 'error', expression: ['Patient.gender'] });

  const created = (await client.create({ resourceType: 'Patient', body: resourceWith('Patient', []) as never })) as Json;
  const stale = await failure(
    client.update({ resourceType: 'Patient', id: created.id, body: { ...created, meta: undefined } as never, options: { headers: { 'If-Match': 'W/"9"' } } }),
  );
  expect(stale.status).toBe(412);
});
