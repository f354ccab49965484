import type { ServableFile } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import type { FhirJson } from '../domain/resource-types.js';
import type { SearchPage, SearchQuery } from '../domain/search.js';

/** What a write needs to know of the request it came with. */
export interface WriteContext {
  /** The base URL the client reached this service at (PUBLIC_BASE_URL, else the request's origin): its file URLs are recognised. */
  baseUrl: string;
}

export interface SearchResult {
  page: SearchPage;
  query: SearchQuery;
}

/** What an attachment holds: a stored file of this service, a URL elsewhere, or inline bytes. */
export type AttachmentContent = (
  | { kind: 'file'; file: ServableFile }
  | { kind: 'external'; url: string }
  /** Only in resources this service did not store itself: every write moves inline data into a file. */
  | { kind: 'data'; bytes: Buffer; contentType?: string; title?: string }
) & {
  /** `Patient/<id>` the resource is about, for the audit record. */
  patient?: string;
};

/**
 * The Fhir module's public port: FHIR R4 resources of one organization, with
 * their attachments linked to stored files. `type` is the type named in the
 * request; an unsupported one is UnknownResourceTypeError.
 */
export abstract class FhirResources {
  /** Validates, links attachments (uploading inline data) and stores a new resource with a server-assigned id. */
  abstract create(organizationId: OrganizationId, type: string, body: unknown, context: WriteContext): Promise<FhirJson>;

  abstract read(organizationId: OrganizationId, type: string, id: string): Promise<FhirJson>;

  /** Replaces an existing resource; `expectedVersion` (from If-Match) must be the current version. */
  abstract update(
    organizationId: OrganizationId,
    type: string,
    id: string,
    body: unknown,
    expectedVersion: number | undefined,
    context: WriteContext,
  ): Promise<FhirJson>;

  /** Deletes a resource, and the files no other resource links. */
  abstract delete(organizationId: OrganizationId, type: string, id: string, expectedVersion?: number): Promise<void>;

  /**
   * The content of the `index`th attachment (zero-based) of the type's
   * attachment field (`content`, `photo`, ...). AttachmentNotFoundError for
   * another field, an index out of range, a linked file that was deleted
   * directly, or an attachment without content this server can serve.
   */
  abstract attachment(organizationId: OrganizationId, type: string, id: string, field: string, index: number): Promise<AttachmentContent>;

  /** `strict`: unknown parameters are refused instead of ignored (Prefer: handling=strict). */
  abstract search(organizationId: OrganizationId, type: string, params: Iterable<[string, string]>, strict: boolean): Promise<SearchResult>;
}
