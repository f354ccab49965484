import { randomBytes } from 'node:crypto';

/** Small but real files of each accepted type, recognisable by `file-type`. */
export const samples = {
  pdf: Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n'),
  // 1x1 transparent PNG.
  png: Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    'base64',
  ),
  // JFIF header; enough for signature detection.
  jpeg: Buffer.concat([Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex'), randomBytes(64), Buffer.from('ffd9', 'hex')]),
  text: Buffer.from('Wound check 2026-04-21: healing well, no signs of infection.\nNächste Kontrolle in 7 Tagen.\n'),
  json: Buffer.from(JSON.stringify({ resourceType: 'Observation', status: 'final', valueQuantity: { value: 5.4, unit: 'mmol/L' } })),
  mp4: mp4OfSize(4096),
};

/** An MP4 (ftyp isom) padded with random bytes to exactly `size` bytes. */
export function mp4OfSize(size: number): Buffer {
  const ftyp = Buffer.from('000000186674797069736f6d0000020069736f6d6d703432', 'hex');
  return Buffer.concat([ftyp, randomBytes(size - ftyp.length)]);
}

/** A PDF padded to exactly `size` bytes (the trailer position does not matter to the type check). */
export function pdfOfSize(size: number): Buffer {
  const head = Buffer.from('%PDF-1.7\n');
  return Buffer.concat([head, Buffer.alloc(size - head.length, 0x20)]);
}
