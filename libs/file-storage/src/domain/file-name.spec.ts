import { extensionOf, sanitizeFileName } from './file-name.js';

describe('sanitizeFileName', () => {
  it.each([
    ['lab-report.pdf', 'lab-report.pdf'],
    ['C:\\Users\\dr\\Befund.pdf', 'Befund.pdf'],
    ['../../etc/passwd.txt', 'passwd.txt'],
    ['line\r\nbreak.pdf', 'line break.pdf'],
    ['bell\u0007.pdf', 'bell.pdf'],
    ['tab\there.pdf', 'tab here.pdf'],
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['  spaced   out .pdf ', 'spaced out .pdf'],
    ['Mu\u0308ller.pdf', 'Müller.pdf'],
    ['..', ''],
    ['', ''],
  ])('turns %j into %j', (raw, safe) => {
    expect(sanitizeFileName(raw)).toBe(safe);
  });

  it('keeps the extension when it shortens a long name to 255 characters', () => {
    const safe = sanitizeFileName(`${'a'.repeat(400)}.pdf`);
    expect(safe).toHaveLength(255);
    expect(safe.endsWith('.pdf')).toBe(true);
  });
});

describe('extensionOf', () => {
  it.each([
    ['a.PDF', 'pdf'],
    ['archive.tar.gz', 'gz'],
    ['noext', undefined],
    ['.hidden', undefined],
    ['trailing.', undefined],
  ])('%s → %s', (name, ext) => {
    expect(extensionOf(name)).toBe(ext);
  });
});
