import { BundleEntryError, InvalidResourceError, MalformedResourceError } from './errors.js';
import { linksToEntries, MAX_BUNDLE_ENTRIES, parseBundle, rewriteLinks, unresolvedLink } from './bundle.js';

const transaction = (...entry: unknown[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });

describe('parseBundle', () => {
  it('reads each entry as method, type, id or search, resource and If-Match, in Bundle order', () => {
    const { kind, entries } = parseBundle(
      transaction(
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'https://elsewhere.example/fhir/Patient/a', resource: { resourceType: 'Patient', id: 'a' }, request: { method: 'PUT', url: '/Patient/a', ifMatch: 'W/"2"' } },
        { request: { method: 'DELETE', url: 'Patient/b' } },
        { request: { method: 'GET', url: 'DocumentReference?patient=p-1&status=current' } },
        { request: { method: 'GET', url: 'Binary/0123' } },
      ),
    );
    expect(kind).toBe('transaction');
    expect(entries.map(({ search, resource: _r, ...e }) => ({ ...e, search: search?.toString() }))).toEqual([
      { index: 0, fullUrl: 'urn:uuid:1', method: 'POST', type: 'Patient', search: undefined },
      { index: 1, fullUrl: 'https://elsewhere.example/fhir/Patient/a', method: 'PUT', type: 'Patient', id: 'a', ifMatch: 'W/"2"', search: undefined },
      { index: 2, method: 'DELETE', type: 'Patient', id: 'b', search: undefined },
      { index: 3, method: 'GET', type: 'DocumentReference', search: 'patient=p-1&status=current' },
      { index: 4, method: 'GET', type: 'Binary', id: '0123', search: undefined },
    ]);
  });

  it.each([
    [{ resourceType: 'Patient' }, /POST \/fhir takes a Bundle/],
    [{ resourceType: 'Bundle', type: 'document' }, /Bundle\.type: must be 'transaction' or 'batch'/],
    [transaction({ request: { method: 'POST', url: 'Patient' } }), /entry\[0\]\.resource: a POST needs the resource/],
    [transaction({ resource: {}, request: { method: 'DELETE', url: 'Patient/a' } }), /a DELETE carries no resource/],
    [transaction({ request: { method: 'PATCH', url: 'Patient/a' } }), /GET, POST, PUT or DELETE/],
    [transaction({ request: { method: 'PUT', url: 'Patient?identifier=x' } }), /conditional interactions are not supported/],
    [transaction({ request: { method: 'DELETE', url: 'Patient/a', ifNoneMatch: '*' } }), /request\.ifNoneMatch: conditional/],
    [transaction({ request: { method: 'GET', url: 'Patient/a/_history/1' } }), /history and operations are not supported/],
    [transaction({ request: { method: 'GET', url: 'http://x.example/fhir/Patient/a' } }), /relative to the FHIR base/],
    [transaction({ request: { method: 'GET', url: 'patient/a' } }), /does not start with a resource type/],
    [transaction({ request: { method: 'GET', url: 'Patient/a b' } }), /not a FHIR id/],
    [transaction({ request: { method: 'GET', url: 'Patient/a', ifMatch: 'W/"1"' } }), /ifMatch: is a version ETag .* for a PUT or DELETE/],
    [
      transaction(
        { fullUrl: 'urn:uuid:1', resource: {}, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:1', resource: {}, request: { method: 'POST', url: 'Patient' } },
      ),
      /entry\[1\]\.fullUrl: urn:uuid:1 names two entries/,
    ],
    [{ resourceType: 'Bundle', type: 'batch', entry: new Array(MAX_BUNDLE_ENTRIES + 1).fill({}) }, /at most 1000/],
    [transaction({ fullUrl: 'http://x.example/fhir/Patient/1', resource: {}, request: { method: 'POST', url: 'Patient' } }), /name it urn:uuid/],
    [transaction({ fullUrl: 'Patient/b', resource: {}, request: { method: 'PUT', url: 'Patient/a' } }), /must be the URL of the resource the entry changes/],
    [transaction({ fullUrl: 'http://x.example/fhir/Patient/ab', resource: {}, request: { method: 'PUT', url: 'Patient/b' } }), /must be the URL/],
  ])('refuses malformed case %# (400), before anything is done', (body, message) => {
    expect(() => parseBundle(body)).toThrow(MalformedResourceError);
    expect(() => parseBundle(body)).toThrow(message);
  });
});

describe('rewriteLinks', () => {
  it('replaces fullUrls in references and urls, and nowhere else (an entryUUID identifier keeps its urn)', () => {
    const doc = {
      resourceType: 'DocumentReference',
      identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:doc' }],
      subject: { reference: 'urn:uuid:patient' },
      content: [{ attachment: { url: 'urn:uuid:binary' } }],
      extension: [{ url: 'https://example.org/x', valueUri: 'urn:uuid:binary' }],
      description: 'urn:uuid:binary',
    };
    rewriteLinks(doc, 'DocumentReference', new Map([['urn:uuid:binary', 'Binary/b1'], ['urn:uuid:patient', 'Patient/p1'], ['urn:uuid:doc', 'DocumentReference/d1']]));
    expect(doc).toEqual({
      resourceType: 'DocumentReference',
      identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:doc' }],
      subject: { reference: 'Patient/p1' },
      content: [{ attachment: { url: 'Binary/b1' } }],
      extension: [{ url: 'https://example.org/x', valueUri: 'Binary/b1' }],
      description: 'urn:uuid:binary',
    });
  });

  it('finds urn links that name no entry, and conditional references, but not identifiers or resolvable links', () => {
    const known = new Set(['urn:uuid:known']);
    const doc = (extra: object) => ({ resourceType: 'DocumentReference', identifier: [{ value: 'urn:uuid:own-entry-uuid' }], subject: { reference: 'urn:uuid:known' }, ...extra });
    expect(unresolvedLink(doc({}), 'DocumentReference', known)).toBeUndefined();
    expect(unresolvedLink(doc({ content: [{ attachment: { url: 'urn:uuid:nowhere' } }] }), 'DocumentReference', known)).toEqual({
      path: 'DocumentReference.content[0].attachment.url',
      value: 'urn:uuid:nowhere',
    });
    expect(unresolvedLink(doc({ author: [{ reference: 'Practitioner?identifier=x|1' }] }), 'DocumentReference', known)?.path).toBe('DocumentReference.author[0].reference');
    expect(unresolvedLink(doc({ author: [{ reference: 'Practitioner/1' }] }), 'DocumentReference', known)).toBeUndefined();
  });

  it('finds where a batch entry links another entry', () => {
    const list = { resourceType: 'List', entry: [{ item: { reference: 'urn:uuid:doc' } }] };
    expect(linksToEntries(list, 'List', new Set(['urn:uuid:doc']))).toBe('List.entry[0].item.reference');
    expect(linksToEntries(list, 'List', new Set(['urn:uuid:other']))).toBeUndefined();
  });
});

describe('BundleEntryError', () => {
  it("keeps the entry's kind and code and moves its issues under the entry", () => {
    const e = new BundleEntryError(2, new InvalidResourceError([{ message: 'bad', expression: 'DocumentReference.status' }, { message: 'no where' }]));
    expect([e.kind, e.code]).toEqual(['unprocessable', 'invalid_resource']);
    expect(e.message).toMatch(/^Bundle\.entry\[2\]: /);
    expect(e.issues).toEqual([
      { message: 'bad', expression: 'Bundle.entry[2].resource.status' },
      { message: 'no where', expression: 'Bundle.entry[2].resource' },
    ]);
    // An error without issues gets one, located at the entry.
    const plain = new BundleEntryError(1, new MalformedResourceError('bad url'));
    expect([plain.kind, plain.issues]).toEqual(['invalid_input', [{ message: 'bad url', expression: 'Bundle.entry[1]' }]]);
  });
});
