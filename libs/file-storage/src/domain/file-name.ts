/** Control characters, and bidi controls that can disguise an extension ("gpj.exe" shown as "exe.jpg"). */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const MAX_LENGTH = 255;

/**
 * The client's file name made safe to store and to echo in Content-Disposition:
 * no directories, no control characters, NFC, at most 255 characters with the
 * extension kept. Returns '' when nothing usable is left.
 */
export function sanitizeFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? '';
  let name = base.normalize('NFC').replace(/\s+/g, ' ').replace(UNSAFE, '').trim();
  if (/^\.+$/.test(name)) return '';
  if (name.length > MAX_LENGTH) {
    const ext = extensionOf(name);
    const tail = ext && ext.length < 16 ? `.${ext}` : '';
    name = name.slice(0, MAX_LENGTH - tail.length) + tail;
  }
  return name;
}

/** The lower-case extension after the last dot, or undefined. */
export function extensionOf(fileName: string): string | undefined {
  const dot = fileName.lastIndexOf('.');
  if (dot <= 0 || dot === fileName.length - 1) return undefined;
  return fileName.slice(dot + 1).toLowerCase();
}
