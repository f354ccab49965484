import type { CommitRider } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import type { AvailableFile, FileListing, HeldFile, ScanStatus, StoredFile } from '../domain/stored-file.js';

export type NewFileRecord = Pick<StoredFile, 'organizationId' | 'id' | 'fileName' | 'originalName' | 'contentType' | 'securityContext'>;

export type UnfinishedFile = Pick<StoredFile, 'organizationId' | 'id' | 'fileName'>;

/** A place in a newest-first listing: the last file seen, with its creation time exactly as the database has it. */
export interface FilePosition {
  createdAt: string;
  id: string;
}

export interface FilePage {
  files: AvailableFile[];
  /** Where the next page starts; absent on the last page. */
  next?: FilePosition;
}

export interface CompletedUpload {
  size: number;
  sha256: string;
  sha1: string;
  scanStatus: Exclude<ScanStatus, 'pending'>;
  scanEngine: string | null;
}

/**
 * Port: file metadata. Every method that touches one organization's data
 * takes its id, so no query can forget the tenant.
 */
export abstract class FileRecordRepository {
  /** Records an upload that has not yet passed its checks (status `pending`). */
  abstract insertPending(record: NewFileRecord): Promise<void>;

  /**
   * `pending` → `available`. Throws UploadExpiredError if the sweeper reclaimed it meanwhile.
   * `rider` commits in the same statement, or neither does (see CommitRider).
   */
  abstract markAvailable(organizationId: OrganizationId, id: string, facts: CompletedUpload, rider?: CommitRider): Promise<AvailableFile>;

  /** Records the facts of a checked upload and leaves it `pending`. Throws UploadExpiredError as markAvailable does. */
  abstract markChecked(organizationId: OrganizationId, id: string, facts: CompletedUpload): Promise<HeldFile>;

  /**
   * `pending` → `available` for checked uploads, all or none: UploadExpiredError
   * when the sweeper reclaimed one. Joins the caller's open transaction.
   */
  abstract confirm(organizationId: OrganizationId, ids: readonly string[]): Promise<void>;

  /** An `available` file, or null (pending, deleting and other organizations' files are invisible). */
  abstract findAvailable(organizationId: OrganizationId, fileName: string): Promise<AvailableFile | null>;

  /** The same, by the file's id (the name without its extension). */
  abstract findAvailableById(organizationId: OrganizationId, id: string): Promise<AvailableFile | null>;

  /** Available files of one organization, newest first, after the `before` cursor (exclusive). */
  abstract listAvailable(organizationId: OrganizationId, limit: number, before?: FilePosition): Promise<FilePage>;

  /** An available file, or one whose deletion has not finished yet; null otherwise. */
  abstract findDeletable(organizationId: OrganizationId, fileName: string): Promise<StoredFile | null>;

  /** `available` → `deleting`, so the file stops being served at once. */
  abstract markDeleting(organizationId: OrganizationId, id: string): Promise<void>;

  abstract remove(organizationId: OrganizationId, id: string): Promise<void>;

  /** Cross-organization, for sweepers: see FileStorage.listAvailableAcrossOrganizations. */
  abstract listAvailableAcrossOrganizations(createdBefore: Date, after: FileListing | undefined, limit: number): Promise<FileListing[]>;

  /**
   * A cross-organization query for the sweeper only: atomically claims
   * records left `pending` or `deleting` since before `olderThan` (a crash
   * mid-way) by marking them `deleting` now, so an upload finishing at this
   * moment cannot become available, and two sweepers never share a record.
   */
  abstract claimUnfinishedAcrossOrganizations(olderThan: Date, limit: number): Promise<UnfinishedFile[]>;
}
