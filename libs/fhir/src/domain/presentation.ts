import { definitionOf, isSupportedResourceType, type FhirJson } from './resource-types.js';

/** How a link to a Binary of this service is stored: relative, so that a change of base URL changes nothing stored. */
const STORED_BINARY_LINK = /^Binary\/[0-9a-f]{32}$/;

/**
 * A resource as its reader gets it: attachments that link a Binary of this
 * service carry its full URL, `<fhirBase>/Binary/<id>` (IHE ITI-67 asks for
 * one, and a GET on it is ITI-68), where they are stored as `Binary/<id>`. A
 * Bundle's entries are presented each. Changes `resource` in place and
 * returns it; anything else is left as it is.
 */
export function presented<T extends object>(resource: T, fhirBase: string): T {
  const json = resource as FhirJson;
  if (json.resourceType === 'Bundle' && Array.isArray(json.entry)) {
    for (const entry of json.entry as Array<{ resource?: FhirJson }>) if (entry.resource) presented(entry.resource, fhirBase);
    return resource;
  }
  if (typeof json.resourceType !== 'string' || !isSupportedResourceType(json.resourceType)) return resource;
  for (const { attachment } of definitionOf(json.resourceType).attachmentsOf(json)) {
    if (typeof attachment.url === 'string' && STORED_BINARY_LINK.test(attachment.url)) attachment.url = `${fhirBase}/${attachment.url}`;
  }
  return resource;
}
