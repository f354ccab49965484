import { Readable } from 'node:stream';

/** What base64Binary may hold (RFC 4648 base64, padded), once its whitespace is removed. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * FHIR base64Binary without its whitespace (R4 allows it; line-wrapped base64 is common), or undefined
 * when what is left is not padded RFC 4648 base64.
 */
export function compactBase64(data: string): string | undefined {
  const compact = data.replace(/\s+/g, '');
  return BASE64.test(compact) && compact.length % 4 === 0 ? compact : undefined;
}

/** Characters of base64 decoded per slice: a multiple of 4, so slices decode on their own. */
const BASE64_CHUNK = 64 * 1024;

/** Decodes base64 (FHIR base64Binary: inline attachment data, Binary.data) in slices, so the decoded bytes never exist all at once. */
export function decodeBase64(data: string): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += BASE64_CHUNK) yield Buffer.from(data.slice(i, i + BASE64_CHUNK), 'base64');
    })(),
  );
}
