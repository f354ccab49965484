import { containsSignedUrl } from './signed-url.js';
import { representationOfUnchecked } from './representation.js';

describe('containsSignedUrl', () => {
  it.each([
    'http://127.0.0.1:3000/signed-files/org-1/0123456789abcdef0123456789abcdef.pdf?method=GET&expires=1&signature=x',
    'https://api.example.org/base/signed-files/org-1/0123456789abcdef0123456789abcdef.pdf',
    '/signed-files/org-1/0123456789abcdef0123456789abcdef.pdf',
    'https://bucket.s3.eu-west-1.amazonaws.com/org/f.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Signature=b',
    'https://minio.example/bucket/f.pdf?x-amz-signature=b',
    'https://cdn.example/f.pdf?expires=1700000000&signature=abc',
    'HTTPS://BUCKET.S3.AMAZONAWS.COM/F.PDF?X-AMZ-SIGNATURE=B',
    'Download it from https://bucket.s3.amazonaws.com/f.pdf?X-Amz-Credential=a&X-Amz-Signature=b before Friday',
    'see /signed-files/org-1/0123456789abcdef0123456789abcdef.pdf?method=GET',
  ])('recognises %s', (url) => expect(containsSignedUrl(url)).toBe(true));

  it.each([
    '/files/org-1/0123456789abcdef0123456789abcdef.pdf',
    'https://pacs.example.org/wado?study=1.2.3',
    'https://images.example.org/signature.png',
    'urn:oid:1.2.3',
    'not a url at all',
    'The signature=valid and expires= never, said the note',
  ])('leaves %s alone', (url) => expect(containsSignedUrl(url)).toBe(false));
});

describe('representationOfUnchecked', () => {
  it('names only accepted types, by their canonical name, and sanitises the name', () => {
    expect(representationOfUnchecked('image/jpg', 'face.jpg', true)).toEqual({
      contentType: 'image/jpeg',
      contentDisposition: 'inline; filename=face.jpg',
    });
    expect(representationOfUnchecked('text/html', 'x.html', true)).toEqual({
      contentType: 'application/octet-stream',
      contentDisposition: 'attachment; filename=x.html',
    });
    // Right-to-left override (U+202E) would show "gpj.exe" as "exe.jpg".
    expect(representationOfUnchecked(undefined, 'a/b/\u202egpj.exe', false).contentDisposition).toBe('attachment; filename=gpj.exe');
    expect(representationOfUnchecked('application/pdf', undefined, true).contentDisposition).toBe('attachment; filename=attachment');
  });
});
