import { presented } from './presentation.js';

const BASE = 'https://attachments.example.org/api/fhir';
const ID = '0123456789abcdef0123456789abcdef';

describe('presented', () => {
  it('reads a stored Binary link as its full URL, in a resource and in every entry of a Bundle, and leaves other urls alone', () => {
    const doc = () => ({
      resourceType: 'DocumentReference',
      content: [{ attachment: { url: `Binary/${ID}` } }, { attachment: { url: '/files/org-a/x.pdf' } }, { attachment: { url: 'https://elsewhere.example/d.pdf' } }],
    });
    const urls = (r: { content: Array<{ attachment: { url: string } }> }) => r.content.map((c) => c.attachment.url);
    expect(urls(presented(doc(), BASE))).toEqual([`${BASE}/Binary/${ID}`, '/files/org-a/x.pdf', 'https://elsewhere.example/d.pdf']);
    const bundle = presented({ resourceType: 'Bundle', entry: [{ resource: doc() }, { resource: { resourceType: 'Bundle', entry: [{ resource: doc() }] } }] }, BASE);
    const [first, inner] = bundle.entry.map((e) => e.resource) as [ReturnType<typeof doc>, { entry: Array<{ resource: ReturnType<typeof doc> }> }];
    expect([urls(first)[0], urls(inner.entry[0]!.resource)[0]]).toEqual([`${BASE}/Binary/${ID}`, `${BASE}/Binary/${ID}`]);
    // What it is given is shared (kept in memory, frozen): it presents a copy.
    const kept = Object.freeze(doc());
    expect(urls(presented(kept, BASE))[0]).toBe(`${BASE}/Binary/${ID}`);
    expect(urls(kept)[0]).toBe(`Binary/${ID}`);
    // A Binary's own text, or a look-alike, is not a stored link.
    const note = { resourceType: 'Patient', photo: [{ url: `Binary/${ID}/x` }], text: { div: `Binary/${ID}` } };
    expect(presented(note, BASE)).toEqual({ resourceType: 'Patient', photo: [{ url: `Binary/${ID}/x` }], text: { div: `Binary/${ID}` } });
  });
});
