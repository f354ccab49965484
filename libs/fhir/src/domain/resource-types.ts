import type { Attachment, Extension, Reference } from '@medplum/fhirtypes';

/**
 * The canonical URL of the practitioner-signature extension. R4 has no
 * Practitioner.signature element, so the signature image is an extension on
 * Practitioner carrying a `valueAttachment`. Documented in the README and the
 * CapabilityStatement.
 */
export const PRACTITIONER_SIGNATURE_URL = 'https://clinical-attachments.example/fhir/StructureDefinition/practitioner-signature';

/** A resource as JSON: the validator, not TypeScript, vouches for its shape. */
export type FhirJson = { resourceType: string; id?: string; meta?: { versionId?: string; lastUpdated?: string } } & Record<string, unknown>;

/** An attachment of a resource, with where it is (`DocumentReference.content[0].attachment`). */
export interface LocatedAttachment {
  attachment: Attachment;
  expression: string;
}

export interface ResourceTypeDefinition {
  /** The element holding the patient reference (and the flat `subjectId` it is written from), if any. */
  subjectElement?: 'subject' | 'patient';
  /** Search parameters over that reference: `subject` matches any target type, `patient` only Patient. */
  subjectSearchParams: readonly ('subject' | 'patient')[];
  /** The attachment field served at /files/<field>, and the attachments it holds, in order; absent for a type without attachments. */
  attachmentField?: string;
  attachmentsOf(resource: FhirJson): LocatedAttachment[];
  /** The CodeableConcept element the `code` search parameter matches, for types that have one. */
  codeElement?: 'code';
  /** Whether the `status` search parameter applies (a required code element `status`). */
  searchableStatus?: true;
}

const isAttachment = (a: unknown): a is Attachment => typeof a === 'object' && a !== null && !Array.isArray(a);

/** The attachments under `path` (one element or a list), each with its expression; `pick` reaches into each item. */
function located(resource: FhirJson, path: string, pick: (item: unknown, at: string) => LocatedAttachment | undefined = (item, at) =>
  isAttachment(item) ? { attachment: item, expression: at } : undefined): LocatedAttachment[] {
  const value = resource[path];
  const base = `${resource.resourceType}.${path}`;
  const items = Array.isArray(value) ? value.map((v, i) => pick(v, `${base}[${i}]`)) : value === undefined ? [] : [pick(value, base)];
  return items.filter((a): a is LocatedAttachment => a !== undefined);
}

export const RESOURCE_TYPES = {
  DocumentReference: {
    subjectElement: 'subject',
    subjectSearchParams: ['subject', 'patient'],
    // IHE MHD's Find Document References (ITI-67) always sends patient and status.
    searchableStatus: true,
    attachmentField: 'content',
    attachmentsOf: (r) =>
      located(r, 'content', (c, at) => {
        const attachment = (c as { attachment?: unknown } | null)?.attachment;
        return isAttachment(attachment) ? { attachment, expression: `${at}.attachment` } : undefined;
      }),
  },
  Media: {
    subjectElement: 'subject',
    subjectSearchParams: ['subject', 'patient'],
    attachmentField: 'content',
    attachmentsOf: (r) => located(r, 'content'),
  },
  Consent: {
    subjectElement: 'patient',
    subjectSearchParams: ['patient'],
    attachmentField: 'sourceAttachment',
    attachmentsOf: (r) => located(r, 'sourceAttachment'),
  },
  DiagnosticReport: {
    subjectElement: 'subject',
    subjectSearchParams: ['subject', 'patient'],
    attachmentField: 'presentedForm',
    attachmentsOf: (r) => located(r, 'presentedForm'),
  },
  Patient: {
    subjectSearchParams: [],
    attachmentField: 'photo',
    attachmentsOf: (r) => located(r, 'photo'),
  },
  Practitioner: {
    subjectSearchParams: [],
    attachmentField: 'signature',
    attachmentsOf: (r) =>
      located(r, 'extension', (e, at) => {
        const { url, valueAttachment } = (e ?? {}) as Extension;
        return url === PRACTITIONER_SIGNATURE_URL && isAttachment(valueAttachment)
          ? { attachment: valueAttachment, expression: `${at}.valueAttachment` }
          : undefined;
      }),
  },
  /**
   * No attachments of its own: it lists resources (an IHE MHD SubmissionSet or Folder, a patient's documents),
   * searched by patient and by its code (`List?code=https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset`).
   */
  List: {
    subjectElement: 'subject',
    subjectSearchParams: ['subject', 'patient'],
    attachmentsOf: () => [],
    codeElement: 'code',
    searchableStatus: true,
  },
} as const satisfies Record<string, ResourceTypeDefinition>;

export type ResourceType = keyof typeof RESOURCE_TYPES;

export const SUPPORTED_RESOURCE_TYPES = Object.keys(RESOURCE_TYPES) as ResourceType[];

/** The types with an attachment field, served at /fhir/<Type>/<id>/files/<field>. */
export type AttachmentResourceType = { [T in ResourceType]: (typeof RESOURCE_TYPES)[T] extends { attachmentField: string } ? T : never }[ResourceType];

export const ATTACHMENT_RESOURCE_TYPES = SUPPORTED_RESOURCE_TYPES.filter((t): t is AttachmentResourceType => definitionOf(t).attachmentField !== undefined);

/** FHIR's logical id: 1 to 64 letters, digits, '-' and '.'. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

export function isSupportedResourceType(value: string): value is ResourceType {
  return Object.hasOwn(RESOURCE_TYPES, value);
}

export function definitionOf(type: ResourceType): ResourceTypeDefinition {
  return RESOURCE_TYPES[type];
}

/** `Patient/<id>` of the patient a resource of a served type is about (a Patient is about itself), for audit records. */
export function patientOf(resource: FhirJson): string | undefined {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !isSupportedResourceType(type)) return undefined;
  if (type === 'Patient') return typeof resource.id === 'string' ? `Patient/${resource.id}` : undefined;
  const subject = subjectKeyOf(resource, definitionOf(type));
  return subject?.type === 'Patient' ? `Patient/${subject.id}` : undefined;
}

/** The patient (or other subject) a resource is about, as `Type` and `id` for search. */
export interface SubjectKey {
  type?: string;
  id: string;
}

/** `Patient/123`, `https://host/fhir/Patient/123` or `Patient/123/_history/2` → { type: Patient, id: 123 }. */
export function subjectKeyOf(resource: FhirJson, definition: ResourceTypeDefinition): SubjectKey | undefined {
  const element = definition.subjectElement;
  const reference = element ? (resource[element] as Reference | undefined)?.reference : undefined;
  if (typeof reference !== 'string') return undefined;
  const match = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return match ? { type: match[1], id: match[2]! } : undefined;
}
