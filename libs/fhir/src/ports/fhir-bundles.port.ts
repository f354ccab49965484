import type { OrganizationId } from '@app/tenancy';
import type { BundleKind } from '../domain/bundle.js';
import type { FhirJson } from '../domain/resource-types.js';
import type { WriteContext } from './fhir-resources.port.js';

/** What one entry of a transaction or batch did. */
export type EntryOutcome =
  | {
      done: 'created' | 'updated' | 'deleted' | 'read' | 'searched';
      /** The resource created, updated or read; for a search, the searchset Bundle. */
      resource?: FhirJson;
      /** `Type/id` of the resource an entry created, updated, deleted or read. */
      location?: string;
      /** A search's type and parameters. */
      search?: { type: string; params: URLSearchParams };
      /** `<orgId>/<fileName>` of a Binary created, read or deleted. */
      file?: string;
    }
  /** A batch entry that failed (a DomainError, or what the service failed with); the other entries stand. */
  | { failed: unknown; method: 'GET' | 'POST' | 'PUT' | 'DELETE'; target?: string };

export interface BundleOutcome {
  kind: BundleKind;
  /** One per request entry, in the same order. */
  entries: EntryOutcome[];
}

/**
 * The Fhir module's port for `POST /fhir`: a transaction Bundle is carried out
 * all or nothing (a refused entry fails the whole of it with that entry's
 * error, and nothing of it is kept, stored bytes included); a batch entry by
 * entry, each with its own outcome.
 */
export abstract class FhirBundles {
  abstract process(organizationId: OrganizationId, body: unknown, context: WriteContext): Promise<BundleOutcome>;
}
