import { canonicalExtensionFor, UnsupportedContentError, type AvailableFile, type HeldFile, type UploadRequest } from '@app/file-storage';
import { compactBase64, decodeBase64 } from './base64.js';
import { InvalidResourceError } from './errors.js';
import type { FhirJson } from './resource-types.js';

/** The elements a created Binary may carry: the server assigns id and meta, and ignores the client's. */
const BINARY_ELEMENTS = new Set(['resourceType', 'id', 'meta', 'contentType', 'data']);

/** The extension on `_data` that points at the bytes of a Binary too large to carry them inline. */
export const BINARY_CONTENT_URL = 'https://clinical-attachments.example/fhir/StructureDefinition/binary-content-url';

/** A Binary's JSON as FHIR reads it: its stored file, one version for life (a file never changes). */
export function binaryOf(file: AvailableFile | HeldFile): FhirJson {
  return {
    resourceType: 'Binary',
    id: file.id,
    meta: { versionId: '1', lastUpdated: file.createdAt.toISOString() },
    contentType: file.contentType,
  };
}

/**
 * The upload a FHIR JSON Binary stands for: its `contentType` declares the
 * type and its `data` goes through the upload's checks as any file. Whatever
 * else it carries is refused, never dropped: `securityContext` restricts who
 * may read in FHIR's model, and ignoring it would serve the bytes to whoever
 * it meant to exclude. `where` names the resource in issues (`Binary`, or
 * `Bundle.entry[2].resource`).
 */
export function binaryUploadOf(body: unknown, where = 'Binary'): UploadRequest {
  const resource = (body ?? {}) as Record<string, unknown>;
  if (resource.resourceType !== 'Binary') {
    throw InvalidResourceError.single(
      'A FHIR JSON body posted to /fhir/Binary must be a Binary; send other content as it is, with its own Content-Type',
      `${where}.resourceType`,
    );
  }
  if (resource.securityContext !== undefined) {
    throw InvalidResourceError.single('Binary.securityContext is not supported: a Binary is readable by its whole organization', `${where}.securityContext`);
  }
  const unknown = Object.keys(resource).filter((key) => !BINARY_ELEMENTS.has(key));
  if (unknown.length > 0) {
    throw new InvalidResourceError(unknown.map((key) => ({ message: `Binary.${key} is not taken: a Binary is its contentType and data`, expression: `${where}.${key}` })));
  }
  const { contentType, data: given } = resource;
  if (typeof contentType !== 'string' || contentType === '') throw InvalidResourceError.single('contentType is required', `${where}.contentType`);
  if (typeof given !== 'string' || given.trim() === '') {
    throw InvalidResourceError.single('data is required: a Binary is created with its bytes (or post them raw)', `${where}.data`);
  }
  const data = compactBase64(given);
  if (data === undefined) throw InvalidResourceError.single('data is not valid base64', `${where}.data`);
  const extension = canonicalExtensionFor(contentType);
  if (!extension) throw new UnsupportedContentError('media_type_not_accepted', `Files of type ${contentType} are not accepted`);
  return { content: decodeBase64(data), fileName: `binary.${extension}`, declaredType: contentType };
}
