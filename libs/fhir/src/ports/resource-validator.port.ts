import type { ResourceIssue } from '../domain/errors.js';
import type { FhirJson } from '../domain/resource-types.js';

/** Port: checks a resource against the FHIR R4 definitions. */
export abstract class ResourceValidator {
  /** Every problem found; empty when the resource is valid. */
  abstract validate(resource: FhirJson): ResourceIssue[];
}
