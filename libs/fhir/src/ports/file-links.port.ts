import type { OrganizationId } from '@app/tenancy';

/**
 * The Fhir module's second public port: which resources link which files,
 * for the file API. A file is deleted on request only when nothing links it,
 * so no resource is left pointing at a file that is gone.
 */
export abstract class FileLinks {
  /** The resources (`Type/id`) that link each of these files of the organization; files nothing links are absent. */
  abstract linkedBy(organizationId: OrganizationId, fileNames: readonly string[]): Promise<Map<string, string[]>>;

  /**
   * Deletes a file that no resource links, for good. FileInUseError (409)
   * naming the resources that link it; StoredFileNotFoundError (404) when
   * there is no such file; a store failure (503) leaves the file unserved
   * and its deletion is finished by the sweeper, or by the next DELETE. A
   * file this service deleted within the hour (on request, or with the last
   * resource that linked it) counts as deleted now: DELETE is idempotent.
   */
  abstract deleteUnlinked(organizationId: OrganizationId, fileName: string): Promise<void>;

  /**
   * For a read of a file (a Binary) kept with a securityContext: the caller
   * must be able to read that resource, that is (access being per
   * organization) it must still exist in the organization, else
   * SecurityContextDeniedError (403). Files without one pass.
   */
  abstract requireReadable(organizationId: OrganizationId, file: { securityContext: string | null }): Promise<void>;

  /** For a file about to be stored with a securityContext: InvalidResourceError (422) unless that resource exists. */
  abstract requireContext(organizationId: OrganizationId, securityContext: string, where: string): Promise<void>;
}
