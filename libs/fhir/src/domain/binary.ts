import { canonicalExtensionFor, UnsupportedContentError, type AvailableFile, type HeldFile, type UploadRequest } from '@app/file-storage';
import { compactBase64, decodeBase64 } from './base64.js';
import { InvalidResourceError } from './errors.js';
import { FHIR_ID, isSupportedResourceType, type FhirJson } from './resource-types.js';

/** The elements a created Binary may carry: the server assigns id and meta, and ignores the client's. */
const BINARY_ELEMENTS = new Set(['resourceType', 'id', 'meta', 'contentType', 'securityContext', 'data']);

/** The extension on `_data` that points at the bytes of a Binary too large to carry them inline. */
export const BINARY_CONTENT_URL = 'https://clinical-attachments.example/fhir/StructureDefinition/binary-content-url';

/** A Binary's JSON as FHIR reads it: its stored file, one version for life (a file never changes). */
export function binaryOf(file: AvailableFile | HeldFile): FhirJson {
  return {
    resourceType: 'Binary',
    id: file.id,
    meta: { versionId: '1', lastUpdated: file.createdAt.toISOString() },
    contentType: file.contentType,
    ...(file.securityContext && { securityContext: { reference: file.securityContext } }),
  };
}

/**
 * A securityContext as this service keeps it: a relative reference `Type/id`
 * to a resource type it serves (from `Binary.securityContext.reference`, or
 * the `X-Security-Context` header of a raw create). `where` names it in the issue.
 */
export function parseSecurityContext(reference: unknown, where: string): string {
  const [type, id, ...rest] = typeof reference === 'string' ? reference.split('/') : [];
  if (rest.length > 0 || type === undefined || id === undefined || !isSupportedResourceType(type) || !FHIR_ID.test(id)) {
    throw InvalidResourceError.single(
      `securityContext must be a reference Type/id to a resource of this server (${String(reference)} is not)`,
      where,
    );
  }
  return `${type}/${id}`;
}

/**
 * The upload a FHIR JSON Binary stands for: its `contentType` declares the
 * type, its `data` goes through the upload's checks as any file, and its
 * `securityContext` is kept with it (the caller checks that it exists).
 * Whatever else it carries is refused, never dropped. `where` names the
 * resource in issues (`Binary`, or `Bundle.entry[2].resource`).
 */
export function binaryUploadOf(body: unknown, where = 'Binary'): UploadRequest {
  const resource = (body ?? {}) as Record<string, unknown>;
  if (resource.resourceType !== 'Binary') {
    throw InvalidResourceError.single(
      'A FHIR JSON body posted to /fhir/Binary must be a Binary; send other content as it is, with its own Content-Type',
      `${where}.resourceType`,
    );
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
  const context = resource.securityContext as { reference?: unknown } | undefined;
  const securityContext = context === undefined ? undefined : parseSecurityContext(context?.reference, `${where}.securityContext.reference`);
  return { content: decodeBase64(data), fileName: `binary.${extension}`, declaredType: contentType, ...(securityContext && { securityContext }) };
}
