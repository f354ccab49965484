import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { definitionOf, PRACTITIONER_SIGNATURE_URL, SUPPORTED_RESOURCE_TYPES } from './resource-types.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, searchParametersOf, SEARCH_PARAMETERS } from './search.js';

/** What no resource type here does: history reads, update-as-create and conditional interactions. */
export const NO_HISTORY_OR_CONDITIONS = {
  readHistory: false,
  updateCreate: false,
  conditionalCreate: false,
  conditionalRead: 'not-supported',
  conditionalUpdate: false,
  conditionalDelete: 'not-supported',
} as const satisfies Partial<CapabilityStatementRestResource>;

/** What this server really does, for GET /fhir/metadata. `fhirBaseUrl` is the absolute URL of /fhir. */
export function capabilityStatement(fhirBaseUrl: string, version: string, startedAt: Date): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = SUPPORTED_RESOURCE_TYPES.map((type) => {
    const definition = definitionOf(type);
    return {
      type,
      documentation:
        type === 'Practitioner'
          ? `The signature is an extension with url ${PRACTITIONER_SIGNATURE_URL} and a valueAttachment.`
          : definition.attachmentField
            ? `Attachments in ${type}.${definition.attachmentField} may link files of /files or Binary/<id>, or carry inline data, which is stored as a file.`
            : `No attachments: it lists other resources (for example an IHE MHD SubmissionSet), searched by patient and code.`,
      interaction: (['read', 'create', 'update', 'delete', 'search-type'] as const).map((code) => ({ code })),
      versioning: 'versioned-update',
      ...NO_HISTORY_OR_CONDITIONS,
      searchParam: searchParametersOf(type).map((name) => ({
        name,
        type: SEARCH_PARAMETERS[name].type,
        documentation: SEARCH_PARAMETERS[name].documentation,
      })),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt.toISOString(),
    kind: 'instance',
    software: { name: 'clinical-attachments', version },
    implementation: { description: 'Clinical attachment file service', url: fhirBaseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          `Search pages with _count (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE}) and _offset; results are ordered by _lastUpdated. ` +
          'Unknown search parameters are ignored unless the request says Prefer: handling=strict.',
        security: { description: 'Every request needs a Bearer JWT naming the organization; each organization sees only its own resources.' },
        resource: resources,
        interaction: [
          {
            code: 'transaction',
            documentation:
              'POST a transaction Bundle to the base: all or nothing, files included (an IHE MHD ITI-65 Provide Document Bundle is one); ' +
              'urn:uuid fullUrls become the assigned ids in references and attachment urls.',
          },
          { code: 'batch', documentation: 'POST a batch Bundle to the base: each entry on its own, with its own status or OperationOutcome.' },
        ],
      },
    ],
  };
}
