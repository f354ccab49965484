import { InvalidSearchError } from './errors.js';
import { parseInstantRange, parseSearch, searchsetBundle } from './search.js';

const iso = (r: { from: Date; to: Date } | undefined) => r && [r.from.toISOString(), r.to.toISOString()];

describe('parseInstantRange', () => {
  it.each([
    ['2026', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
    ['2026-02', '2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['2026-02-28', '2026-02-28T00:00:00.000Z', '2026-03-01T00:00:00.000Z'],
    ['2026-02-28T10:15Z', '2026-02-28T10:15:00.000Z', '2026-02-28T10:16:00.000Z'],
    ['2026-02-28T10:15:30+02:00', '2026-02-28T08:15:30.000Z', '2026-02-28T08:15:31.000Z'],
    ['2026-02-28T10:15:30.123Z', '2026-02-28T10:15:30.123Z', '2026-02-28T10:15:30.124Z'],
  ])('reads %s as the range its precision covers', (value, from, to) => {
    expect(iso(parseInstantRange(value))).toEqual([from, to]);
  });

  it.each(['yesterday', '2026-02-30', '2026-13', '2026-02-28T25:00Z', '2026-02-28T10:15', '26-02-28'])('refuses %s', (value) => {
    expect(parseInstantRange(value)).toBeUndefined();
  });
});

describe('parseSearch', () => {
  const parse = (query: string, strict = false, type: 'DocumentReference' | 'Consent' | 'Patient' = 'DocumentReference') =>
    parseSearch(type, new URLSearchParams(query), strict);

  it('reads _id, subject, _lastUpdated, _count and _offset', () => {
    const q = parse('_id=a,b&subject=Patient/p1,p2&_lastUpdated=ge2026-01&_lastUpdated=lt2026-02&_count=5&_offset=10');
    expect(q).toMatchObject({
      ids: ['a', 'b'],
      subjects: [{ type: 'Patient', id: 'p1' }, { type: undefined, id: 'p2' }],
      count: 5,
      offset: 10,
    });
    expect(q.lastUpdated.map((c) => c.prefix)).toEqual(['ge', 'lt']);
    expect(q.applied.map(([name]) => name)).toEqual(['_id', 'subject', '_lastUpdated', '_lastUpdated']);
  });

  it('reads patient as a Patient reference and refuses other types for it', () => {
    expect(parse('patient=p1', false, 'Consent').subjects).toEqual([{ type: 'Patient', id: 'p1' }]);
    expect(() => parse('patient=Group/g1', false, 'Consent')).toThrow(InvalidSearchError);
  });

  it('intersects repeated _id parameters', () => {
    expect(parse('_id=a,b&_id=b,c').ids).toEqual(['b']);
  });

  it('caps _count at 100 and defaults it to 20', () => {
    expect(parse('_count=5000').count).toBe(100);
    expect(parse('').count).toBe(20);
  });

  it('reads code as tokens on List: system|code, code in any system, |code without one, alternatives', () => {
    const query = parseSearch('List', [['code', 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset,folder,|local']], false);
    expect(query.codes).toEqual([
      { system: 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes', code: 'submissionset' },
      { code: 'folder' },
      { system: null, code: 'local' },
    ]);
    for (const bad of ['a|b|c', 'system|', '', 'x,']) expect(() => parseSearch('List', [['code', bad]], false)).toThrow(/code must be/);
    expect(() => parseSearch('List', [['code', 'a'], ['code', 'b']], false)).toThrow(/once/);
    expect(() => parseSearch('DocumentReference', [['code', 'a']], true)).toThrow(/Unknown search parameter 'code'/);
  });

  it('reads status as codes on DocumentReference and List, as IHE MHD ITI-67 sends it', () => {
    expect(parseSearch('DocumentReference', [['patient', 'p-1'], ['status', 'current,superseded']], true)).toMatchObject({
      subjects: [{ type: 'Patient', id: 'p-1' }],
      statuses: ['current', 'superseded'],
    });
    expect(parseSearch('List', [['status', '|current']], true).statuses).toEqual(['current']);
    expect(() => parseSearch('DocumentReference', [['status', 'http://hl7.org/fhir/document-reference-status|current']], true)).toThrow(/status must be codes/);
    expect(() => parseSearch('Patient', [['status', 'current']], true)).toThrow(/Unknown search parameter 'status'/);
  });

  it('ignores unknown parameters, and parameters the type does not have, unless strict', () => {
    const lenient = parse('family=Doe&subject=p1', false, 'Patient');
    expect(lenient.subjects).toBeUndefined();
    expect(lenient.applied).toEqual([]);
    expect(() => parse('family=Doe', true, 'Patient')).toThrow(/Unknown search parameter 'family'/);
  });

  it.each(['_id:not=a', 'subject:Patient=p1', '_count=-1', '_count=ten', '_lastUpdated=gtsoon', '_lastUpdated=xx2020', '_lastUpdated=GT2020', '_id=a/b', 'subject=a&patient=b'])(
    'refuses %s with InvalidSearchError',
    (query) => {
      expect(() => parse(query)).toThrow(InvalidSearchError);
    },
  );
});

describe('searchsetBundle', () => {
  const resources = (n: number) => Array.from({ length: n }, (_, i) => ({ resourceType: 'Patient', id: `p${i}` }));

  it('links self, next and previous with the parameters used', () => {
    const query = parseSearch('Patient', new URLSearchParams('_id=p0,p1,p2,p3,p4&_count=2&_offset=2'), false);
    const bundle = searchsetBundle({ resources: resources(2), total: 5 }, query, 'https://h/fhir/Patient');
    expect(bundle.link).toEqual([
      { relation: 'self', url: 'https://h/fhir/Patient?_id=p0%2Cp1%2Cp2%2Cp3%2Cp4&_count=2&_offset=2' },
      { relation: 'next', url: 'https://h/fhir/Patient?_id=p0%2Cp1%2Cp2%2Cp3%2Cp4&_count=2&_offset=4' },
      { relation: 'previous', url: 'https://h/fhir/Patient?_id=p0%2Cp1%2Cp2%2Cp3%2Cp4&_count=2' },
    ]);
    expect(bundle.entry?.[0]).toEqual({ fullUrl: 'https://h/fhir/Patient/p0', resource: { resourceType: 'Patient', id: 'p0' }, search: { mode: 'match' } });
  });

  it('has no next link on the last page', () => {
    const query = parseSearch('Patient', new URLSearchParams('_count=2&_offset=4'), false);
    const bundle = searchsetBundle({ resources: resources(1), total: 5 }, query, 'https://h/fhir/Patient');
    expect(bundle.link?.map((l) => l.relation)).toEqual(['self', 'previous']);
  });
});
