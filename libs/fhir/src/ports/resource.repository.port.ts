import type { ServableFile } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import type { FhirJson, ResourceType, SubjectKey } from '../domain/resource-types.js';
import type { SearchPage, SearchQuery } from '../domain/search.js';

/**
 * A file a resource links, with the facts a signed URL for it needs, copied
 * from the file when the link is made: they never change for a stored file.
 */
export type LinkedFile = Omit<ServableFile, 'organizationId'>;

/** A resource and the files it links; a link made before links kept their facts has none (contentType null). */
export interface ResourceWithFiles {
  resource: FhirJson;
  files: Array<LinkedFile | { fileName: string; contentType: null }>;
}

export interface ResourceWrite {
  type: ResourceType;
  id: string;
  /** The resource without meta.versionId/lastUpdated: the repository stamps them. */
  resource: FhirJson;
  subject?: SubjectKey;
  /** Files (of this organization) the resource links. */
  files: readonly LinkedFile[];
  /** 'create': the id must be new; a number: the version it must still be at; undefined: any existing version. */
  expected: 'create' | number | undefined;
}

export interface WriteOptions {
  /**
   * Leave the files the write stops linking unreleased (in `dropped` only): a
   * transaction of several writes releases, at its end, those no resource
   * links by then (releaseUnlinked), so that one entry may link a file another
   * lets go of.
   */
  releaseLater?: boolean;
}

export interface WriteResult {
  /** The stored resource, with its new meta. */
  resource: FhirJson;
  /** Files no resource links any more, recorded as released: the caller deletes them, then marks the release done. */
  released: string[];
  /** Files the resource linked before and no longer does. */
  dropped: string[];
}

export interface ReleasedFile {
  organizationId: OrganizationId;
  fileName: string;
}

/**
 * Port: resources and the files they link. Every method that touches one
 * organization's data takes its id.
 */
export abstract class ResourceRepository {
  /**
   * `work` in one database transaction of the organization: every call it
   * makes for that organization, to this repository or any other of the
   * service's (a held upload's confirm), joins it, and commits or rolls back
   * with it. How a FHIR transaction is all or nothing.
   */
  abstract transaction<T>(organizationId: OrganizationId, work: () => Promise<T>): Promise<T>;

  abstract find(organizationId: OrganizationId, type: ResourceType, id: string): Promise<FhirJson | null>;

  /**
   * The resource with the files it links, in one round trip: what an
   * attachment's 307 needs. Links made before their facts were kept have
   * `contentType` null; the caller looks those files up.
   */
  abstract findWithFiles(organizationId: OrganizationId, type: ResourceType, id: string): Promise<ResourceWithFiles | null>;

  abstract search(organizationId: OrganizationId, type: ResourceType, query: SearchQuery): Promise<SearchPage>;

  /**
   * In one transaction: stores the resource with the next version, replaces
   * its links, and releases the files it stopped linking that nothing else
   * links. Throws ResourceNotFoundError, VersionConflictError, or
   * InvalidResourceError when a file to link is being released.
   */
  abstract write(organizationId: OrganizationId, write: ResourceWrite, options?: WriteOptions): Promise<WriteResult>;

  /**
   * Deletes a resource and its links in one transaction; releases files
   * nothing else links and returns them (with releaseLater: returns the files
   * it linked, unreleased).
   */
  abstract remove(organizationId: OrganizationId, type: ResourceType, id: string, expectedVersion?: number, options?: WriteOptions): Promise<string[]>;

  /**
   * In the caller's transaction, before several writes: locks the existing
   * resources it will change (row locks) and then every file they link or
   * will link (advisory locks), each in one sorted order, so that two such
   * transactions cannot deadlock whatever the order of their entries.
   */
  abstract lockForWrites(organizationId: OrganizationId, resources: ReadonlyArray<{ type: ResourceType; id: string }>, fileNames: readonly string[]): Promise<void>;

  /** The resources (`Type/id`) that link each of these files; files nothing links are absent. */
  abstract linkedBy(organizationId: OrganizationId, fileNames: readonly string[]): Promise<Map<string, string[]>>;

  /**
   * For a file to be deleted on request: if no resource links it, records it
   * as released, so nothing can link it any more; otherwise changes nothing
   * and names the resources (`Type/id`) that link it. `deleted`: this service
   * already deleted the file, with the last resource that linked it.
   */
  abstract releaseForDeletion(organizationId: OrganizationId, fileName: string): Promise<{ linkedBy: string[]; deleted: boolean }>;

  /** Of these files, releases (and returns) those no resource links. */
  abstract releaseUnlinked(organizationId: OrganizationId, fileNames: readonly string[]): Promise<string[]>;

  /**
   * Done deleting a released file. Its release stays as a tombstone, so that
   * a request that saw the file just before cannot link it any more.
   */
  abstract markReleaseDone(organizationId: OrganizationId, fileName: string): Promise<void>;

  /** Releases whose deletion did not finish (a crash, the store down), for the sweeper only. */
  abstract unfinishedReleasesAcrossOrganizations(olderThan: Date, limit: number): Promise<ReleasedFile[]>;

  /** Drops tombstones of files deleted before `before`; returns how many. For the sweeper only. */
  abstract purgeTombstonesAcrossOrganizations(before: Date): Promise<number>;
}
