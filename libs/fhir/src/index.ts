export { FhirModule } from './fhir.module.js';
export { FileLinks } from './ports/file-links.port.js';
export { FhirResources, type AttachmentContent, type SearchResult, type WriteContext } from './ports/fhir-resources.port.js';
export { capabilityStatement } from './domain/capability-statement.js';
export { searchsetBundle } from './domain/search.js';
export { PRACTITIONER_SIGNATURE_URL, SUPPORTED_RESOURCE_TYPES, type FhirJson } from './domain/resource-types.js';
export { AttachmentNotFoundError, FileInUseError, IfMatchRequiredError, InvalidResourceError, MalformedResourceError, type ResourceIssue } from './domain/errors.js';
