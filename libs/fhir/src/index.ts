export { FhirModule } from './fhir.module.js';
export { FileLinks } from './ports/file-links.port.js';
export { FhirBundles, type BundleOutcome, type EntryOutcome } from './ports/fhir-bundles.port.js';
export { MAX_BUNDLE_ENTRIES, type BundleKind } from './domain/bundle.js';
export { BINARY_CONTENT_URL, binaryOf, binaryUploadOf, parseSecurityContext } from './domain/binary.js';
export { binaryWithContent } from './application/binary-content.js';
export { versionFromIfMatch } from './domain/if-match.js';
export { presented } from './domain/presentation.js';
export { FhirResources, type AttachmentContent, type SearchResult, type WriteContext } from './ports/fhir-resources.port.js';
export { capabilityStatement, NO_HISTORY_OR_CONDITIONS } from './domain/capability-statement.js';
export {
  dateConditionSql,
  DEFAULT_PAGE_SIZE,
  MAX_OFFSET,
  MAX_PAGE_SIZE,
  parseCount,
  parseDateCondition,
  SEARCH_PARAMETERS,
  searchParametersOf,
  searchsetBundle,
  type InstantCondition,
  type SearchPage,
} from './domain/search.js';
export {
  ATTACHMENT_RESOURCE_TYPES,
  definitionOf,
  FHIR_ID,
  patientOf,
  PRACTITIONER_SIGNATURE_URL,
  RESOURCE_TYPES,
  SUPPORTED_RESOURCE_TYPES,
  type AttachmentResourceType,
  type FhirJson,
  type ResourceType,
} from './domain/resource-types.js';
export {
  AttachmentNotFoundError,
  FileInUseError,
  IfMatchRequiredError,
  InvalidResourceError,
  InvalidSearchError,
  ResourceNotFoundError,
  MalformedResourceError,
  SecurityContextDeniedError,
  type ResourceIssue,
} from './domain/errors.js';
export { PLAIN_DATE, PLAIN_DATE_ELEMENTS } from './domain/product-api.js';
export { compactBase64, decodeBase64 } from './domain/base64.js';
