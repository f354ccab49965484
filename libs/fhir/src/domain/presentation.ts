import { definitionOf, isSupportedResourceType, type FhirJson } from './resource-types.js';

/** How a link to a Binary of this service is stored: relative, so that a change of base URL changes nothing stored. */
const STORED_BINARY_LINK = /^Binary\/[0-9a-f]{32}$/;

/**
 * A resource as its reader gets it: attachments that link a Binary of this
 * service carry its full URL, `<fhirBase>/Binary/<id>` (IHE ITI-67 asks for
 * one, and a GET on it is ITI-68), where they are stored as `Binary/<id>`. A
 * Bundle's entries are presented each. `resource` itself is never changed: it
 * may be shared with other readers (kept in memory, frozen); a resource with
 * such a link is presented as a copy, anything else is returned as it is.
 */
export function presented<T extends object>(resource: T, fhirBase: string): T {
  const json = resource as FhirJson;
  if (json.resourceType === 'Bundle' && Array.isArray(json.entry)) {
    const entry = (json.entry as Array<{ resource?: FhirJson }>).map((e) => (e.resource ? { ...e, resource: presented(e.resource, fhirBase) } : e));
    return { ...resource, entry };
  }
  if (typeof json.resourceType !== 'string' || !isSupportedResourceType(json.resourceType)) return resource;
  const definition = definitionOf(json.resourceType);
  const storedLinks = (r: FhirJson) =>
    definition.attachmentsOf(r).filter(({ attachment }) => typeof attachment.url === 'string' && STORED_BINARY_LINK.test(attachment.url));
  if (storedLinks(json).length === 0) return resource;
  const copy = structuredClone(json);
  for (const { attachment } of storedLinks(copy)) attachment.url = `${fhirBase}/${attachment.url}`;
  return copy as T;
}
