import type { Response } from 'supertest';
import { PRACTITIONER_SIGNATURE_URL } from '@app/fhir';

export const FHIR_JSON = 'application/fhir+json';

export const FHIR_TYPES = ['DocumentReference', 'Media', 'Consent', 'DiagnosticReport', 'Patient', 'Practitioner'] as const;
export type FhirType = (typeof FHIR_TYPES)[number];

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The product document's table of `/fhir/<Type>/<id>/files/<field>` endpoints: the contract the
 * tests hold the code (RESOURCE_TYPES), the OpenAPI document and the README to. Stated here once.
 */
export const PRODUCT_ATTACHMENT_FIELD: Record<FhirType, string> = {
  Consent: 'sourceAttachment',
  DiagnosticReport: 'presentedForm',
  DocumentReference: 'content',
  Media: 'content',
  Patient: 'photo',
  Practitioner: 'signature',
};

/** The element holding the patient reference, for the types that have one. */
export const SUBJECT_ELEMENT: Partial<Record<FhirType, string>> = {
  DocumentReference: 'subject',
  Media: 'subject',
  Consent: 'patient',
  DiagnosticReport: 'subject',
};

/** A small valid resource of each type carrying `attachments` in its attachment field, with the flat subjectId where the type has a patient. */
export function resourceWith(type: FhirType, attachments: Json[], subjectId?: string): Json {
  const subject = subjectId && SUBJECT_ELEMENT[type] ? { subjectId } : {};
  switch (type) {
    case 'DocumentReference':
      return {
        resourceType: type,
        status: 'current',
        type: { coding: [{ system: 'http://loinc.org', code: '11502-2', display: 'Laboratory report' }] },
        ...subject,
        date: '2026-04-21T10:00:00Z',
        content: attachments.map((attachment) => ({ attachment })),
      };
    case 'Media':
      return { resourceType: type, status: 'completed', ...subject, createdDateTime: '2026-04-21', content: attachments[0] };
    case 'Consent':
      return {
        resourceType: type,
        status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'treatment' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        ...subject,
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
        sourceAttachment: attachments[0],
      };
    case 'DiagnosticReport':
      return {
        resourceType: type,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '58410-2' }] },
        ...subject,
        presentedForm: attachments,
      };
    case 'Patient':
      return { resourceType: type, name: [{ family: 'Doe', given: ['Jane'] }], gender: 'female', photo: attachments };
    case 'Practitioner':
      return {
        resourceType: type,
        name: [{ family: 'Smith', given: ['Ann'] }],
        extension: attachments.map((valueAttachment) => ({ url: PRACTITIONER_SIGNATURE_URL, valueAttachment })),
      };
  }
}

/** The attachments of a resource as the server returned it, in field order. */
export function attachmentsIn(type: FhirType, resource: Json): Json[] {
  switch (type) {
    case 'DocumentReference':
      return resource.content.map((c: Json) => c.attachment);
    case 'Media':
      return [resource.content];
    case 'Consent':
      return [resource.sourceAttachment];
    case 'DiagnosticReport':
      return resource.presentedForm;
    case 'Patient':
      return resource.photo;
    case 'Practitioner':
      return resource.extension.map((e: Json) => e.valueAttachment);
  }
}

/** Checks an answer is an OperationOutcome with `status` (and `text` in its issues, if given); returns it. */
export function expectOperationOutcome(res: Response, status: number, text?: RegExp): Json {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  const outcome = JSON.parse(res.text);
  expect(outcome.resourceType).toBe('OperationOutcome');
  if (text) expect(outcome.issue.map((i: Json) => i.details.text).join('\n')).toMatch(text);
  return outcome;
}
