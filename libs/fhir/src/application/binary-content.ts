import { Writable } from 'node:stream';
import type { AvailableFile, FileStorage } from '@app/file-storage';
import { BINARY_CONTENT_URL, binaryOf } from '../domain/binary.js';
import type { FhirJson } from '../domain/resource-types.js';

/** The Binary without its bytes: an extension on `_data` whose valueUrl serves them. */
export function binaryWithPointer(file: AvailableFile, fhirBase: string): FhirJson {
  return { ...binaryOf(file), _data: { extension: [{ url: BINARY_CONTENT_URL, valueUrl: `${fhirBase}/Binary/${file.id}` }] } };
}

/**
 * A stored file as the Binary resource FHIR JSON reads: its bytes as base64
 * `data` up to `inlineMaxBytes` (FHIR_BINARY_INLINE_MAX_BYTES), otherwise an
 * extension on `_data` that points at them (`<fhirBase>/Binary/<id>`).
 */
export async function binaryWithContent(files: FileStorage, file: AvailableFile, inlineMaxBytes: number, fhirBase: string): Promise<FhirJson> {
  if (file.size > inlineMaxBytes) return binaryWithPointer(file, fhirBase);
  const binary = binaryOf(file);
  const chunks: Buffer[] = [];
  // A destination done with each chunk once called back, as writeTo asks: it copies.
  const collector = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  await files.writeTo(file, collector);
  return { ...binary, data: Buffer.concat(chunks).toString('base64') };
}
