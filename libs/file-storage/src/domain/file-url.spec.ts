import { FileUrls } from './file-url.js';

const FILE = { organizationId: 'org-1', fileName: '0123456789abcdef0123456789abcdef.pdf' };
const PATH = `/files/${FILE.organizationId}/${FILE.fileName}`;

describe('FileUrls', () => {
  const urls = new FileUrls(['http://localhost:3000', 'https://api.example.org/attachments']);

  it.each([
    ['the relative path', PATH],
    ['the path under the first base', `http://localhost:3000${PATH}`],
    ['an upper-case host', `http://LOCALHOST:3000${PATH}`],
    ['an upper-case scheme', `HTTP://localhost:3000${PATH}`],
    ['the base with a path prefix', `https://api.example.org/attachments${PATH}`],
    ['the default port written out', `https://api.example.org:443/attachments${PATH}`],
    ['/FILES/ (routes are case-insensitive)', `http://localhost:3000/FILES/org-1/${FILE.fileName}`],
    ['a dot segment', `http://localhost:3000/./files/org-1/${FILE.fileName}`],
    ['a dot-dot segment', `http://localhost:3000/x/../files/org-1/${FILE.fileName}`],
    ['encoded dot segments', `http://localhost:3000/x/%2e%2e/files/org-1/${FILE.fileName}`],
    ['a relative path with dot segments', `/fhir/../files/org-1/${FILE.fileName}`],
    ['percent-encoded letters', `http://localhost:3000/%66iles/org%2D1/${FILE.fileName}`],
  ])('recognises %s', (_case, url) => {
    expect(urls.resolve(url)).toEqual(FILE);
  });

  it.each([
    ['another host', `http://example.org${PATH}`],
    ['another port', `http://localhost:3001${PATH}`],
    ['another scheme', `https://localhost:3000${PATH}`],
    ['outside the base path', `https://api.example.org${PATH}`],
    ['a base path prefix that is not a segment', `https://api.example.org/attachmentsX${PATH}`],
    ['another route of this service', 'http://localhost:3000/fhir/Patient/1'],
    ['a protocol-relative URL', `//localhost:3000${PATH}`],
    ['a URN', 'urn:uuid:5f0c6d2e-9a8b-4c7d-1e2f-3a4b5c6d7e8f'],
    ['a relative reference', 'files/org-1/x.pdf'],
  ])('leaves %s alone', (_case, url) => {
    expect(urls.resolve(url)).toBeUndefined();
  });

  it.each([
    ['a missing file name', 'http://localhost:3000/files/org-1'],
    ['an extra segment', `/files/org-1/sub/${FILE.fileName}`],
    ['an encoded slash', `/files/org-1%2F${FILE.fileName}`],
    ['a query', `${PATH}?disposition=inline`],
    ['a fragment', `${PATH}#page=2`],
    ['broken percent-encoding', '/files/org-1/%E0%A4%A.pdf'],
  ])('calls %s malformed', (_case, url) => {
    expect(urls.resolve(url)).toBe('malformed');
  });

  it('names the Binary of a URL however FHIR clients spell it, and nothing else', () => {
    const urls = new FileUrls(['https://attachments.example.org/api']);
    const id = '0123456789abcdef0123456789abcdef';
    for (const url of [
      `Binary/${id}`,
      `/fhir/Binary/${id}`,
      `/FHIR/Binary/${id}`,
      `https://attachments.example.org/api/fhir/Binary/${id}`,
      `HTTPS://Attachments.Example.org:443/api/fhir/Binary/${id}`,
      `https://attachments.example.org/api/fhir/x/../Binary/${id}`,
      `./Binary/${id}`,
      `/fhir/Binary/${id}/`,
      `/fhir/binary/%30${id.slice(1)}`,
    ]) {
      expect(urls.binaryId(url)).toBe(id);
    }
    // Under the FHIR base's Binary/ but no file's id: refused when linked, never taken for an external link.
    for (const url of [`Binary/${id}/_history/1`, `Binary/${id.toUpperCase()}`, `/fhir/Binary/${id}?_format=json`, `/fhir/Binary/${id}#x`, 'Binary/short', '/fhir/Binary/%zz']) {
      expect(urls.binaryId(url)).toBe('malformed');
    }
    for (const url of [`https://elsewhere.example/fhir/Binary/${id}`, `https://attachments.example.org/fhir/Binary/${id}`, `/files/org/${id}.pdf`, `urn:uuid:${id}`, `/fhir/Binaryx/${id}`]) {
      expect(urls.binaryId(url)).toBeUndefined();
    }
  });

  it('knows only relative URLs without bases', () => {
    expect(new FileUrls([]).resolve(PATH)).toEqual(FILE);
    expect(new FileUrls([]).resolve(`http://localhost:3000${PATH}`)).toBeUndefined();
  });
});
