import type { Extension, Reference } from '@medplum/fhirtypes';
import { InvalidResourceError } from './errors.js';
import { definitionOf, FHIR_ID, type FhirJson, type ResourceType } from './resource-types.js';

/** FHIR's own extension for "the text the value was taken from". */
export const ORIGINAL_TEXT_URL = 'http://hl7.org/fhir/StructureDefinition/originalText';

/** A calendar date without a time, as the product document sends `DocumentReference.date`. */
export const PLAIN_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** The instant elements that also take a plain date (stored as midnight UTC, with the date as sent kept beside it). */
export const PLAIN_DATE_ELEMENTS: Partial<Record<ResourceType, string>> = { DocumentReference: 'date' };

/**
 * The product API's conventions, turned into standard FHIR R4 in place:
 * - `subjectId`, the flat patient id, becomes the `Patient/<id>` reference of
 *   the type's subject element (`subject`, or `patient` on Consent);
 * - `DocumentReference.date` sent as a plain date (as the product document
 *   does) becomes the instant R4 requires, midnight UTC of that day, and the
 *   date as sent is kept beside it in an originalText extension, so nobody
 *   mistakes the midnight for a time of day someone recorded.
 */
export function fromProductApi(type: ResourceType, resource: FhirJson): void {
  const element = definitionOf(type).subjectElement;
  if (element && 'subjectId' in resource) {
    const { subjectId } = resource;
    if (typeof subjectId !== 'string' || !FHIR_ID.test(subjectId)) {
      throw InvalidResourceError.single('subjectId must be a Patient id', `${type}.subjectId`);
    }
    const reference = `Patient/${subjectId}`;
    const given = (resource[element] as Reference | undefined)?.reference;
    if (given !== undefined && given !== reference) {
      throw InvalidResourceError.single(`subjectId says ${reference} but ${element}.reference says ${given}`, `${type}.subjectId`);
    }
    delete resource.subjectId;
    resource[element] = { ...(resource[element] as object | undefined), reference };
  }
  const dateElement = PLAIN_DATE_ELEMENTS[type];
  const date = dateElement && resource[dateElement];
  if (dateElement && typeof date === 'string' && PLAIN_DATE.test(date)) {
    const instant = `${date}T00:00:00Z`;
    // A date that does not exist (2026-02-30) stays as it is, for the validator to refuse.
    if (new Date(instant).toISOString().startsWith(date)) {
      const primitive = (resource[`_${dateElement}`] ?? {}) as { extension?: Extension[] };
      resource[`_${dateElement}`] = { ...primitive, extension: [...(primitive.extension ?? []), { url: ORIGINAL_TEXT_URL, valueString: date }] };
      resource[dateElement] = instant;
    }
  }
}
