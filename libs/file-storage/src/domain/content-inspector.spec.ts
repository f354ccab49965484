import { SUPPORTED_CONTENT_TYPES } from '@app/config';
import { ContentInspector } from './content-inspector.js';
import { UnsupportedContentError } from './errors.js';

const PDF = Buffer.from('%PDF-1.7\n%âãÏÓ\n');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
const MP4 = Buffer.from('000000186674797069736f6d0000020069736f6d6d703432', 'hex');
const MOV = Buffer.from('0000001466747970717420200000000071742020', 'hex');
const TEXT = Buffer.from('plain words');

const all = new ContentInspector(SUPPORTED_CONTENT_TYPES);

async function decide(head: Buffer, fileName: string, declaredType?: string, inspector = all) {
  const decision = await inspector.inspect({ head, fileName, declaredType });
  return { contentType: decision.rule.contentType, ext: decision.rule.canonicalExtension, checksBody: !!decision.bodyCheck };
}

describe('ContentInspector', () => {
  it.each([
    ['report.pdf', PDF, 'application/pdf', 'application/pdf', 'pdf', false],
    ['REPORT.PDF', PDF, 'APPLICATION/PDF', 'application/pdf', 'pdf', false],
    ['scan.pdf', PDF, 'application/x-pdf', 'application/pdf', 'pdf', false],
    ['photo.png', PNG, 'image/png', 'image/png', 'png', false],
    ['photo.jpeg', JPEG, 'image/jpeg', 'image/jpeg', 'jpg', false],
    ['photo.jpg', JPEG, 'image/pjpeg', 'image/jpeg', 'jpg', false],
    ['clip.mp4', MP4, 'video/mp4', 'video/mp4', 'mp4', false],
    ['note.txt', TEXT, 'text/plain; charset=utf-8', 'text/plain', 'txt', true],
    ['data.json', Buffer.from('{}'), 'application/json', 'application/json', 'json', true],
    ['data.json', Buffer.from('{}'), 'text/json', 'application/json', 'json', true],
    ['report.pdf', PDF, undefined, 'application/pdf', 'pdf', false],
    ['report.pdf', PDF, '', 'application/pdf', 'pdf', false],
    ['report.pdf', PDF, 'application/octet-stream', 'application/pdf', 'pdf', false],
  ])('accepts %s declared as %s', async (name, head, declared, contentType, ext, checksBody) => {
    expect(await decide(head, name, declared as string | undefined)).toEqual({ contentType, ext, checksBody });
  });

  it.each([
    ['the content disagrees with the extension', PNG, 'photo.pdf', 'application/pdf', /content is image\/png.*\.pdf/],
    ['the declared type disagrees with the extension', PDF, 'report.pdf', 'image/png', /declared type image\/png/],
    ['the declared type is unknown', PDF, 'report.pdf', 'application/x-evil', /declared type application\/x-evil/],
    ['a signature type has no signature', TEXT, 'report.pdf', undefined, /not a recognisable application\/pdf/],
    ['a QuickTime movie is named .mp4', MOV, 'clip.mp4', 'video/mp4', /content is video\/quicktime/],
    ['binary content is named .txt', PNG, 'note.txt', undefined, /content is image\/png/],
    ['the extension is unknown', PDF, 'report.docx', undefined, /\.docx are not accepted/],
    ['there is no extension', PDF, 'report', undefined, /no extension/],
    ['the name is only an extension', PDF, '.pdf', undefined, /no extension/],
  ])('refuses when %s', async (_case, head, name, declared, message) => {
    await expect(decide(head, name, declared)).rejects.toThrow(message);
    await expect(decide(head, name, declared)).rejects.toBeInstanceOf(UnsupportedContentError);
  });

  it('refuses a supported type that the allow-list leaves out', async () => {
    const pdfOnly = new ContentInspector(['application/pdf']);
    await expect(decide(PNG, 'photo.png', 'image/png', pdfOnly)).rejects.toThrow(/accepted types: application\/pdf/);
  });
});
