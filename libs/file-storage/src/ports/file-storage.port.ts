import type { Readable } from 'node:stream';
import type { OrganizationId } from '@app/tenancy';
import type { AvailableFile, FileListing } from '../domain/stored-file.js';
import type { ByteRange } from './object-store.port.js';

export interface UploadRequest {
  content: Readable;
  /** The client's file name; its extension is one of the three witnesses of the type. */
  fileName: string;
  /** The client's declared MIME type, if any. */
  declaredType?: string;
}

/**
 * The FileStorage module's public port: what the HTTP layer and other
 * modules may do with files. Every call is scoped to one organization.
 */
export abstract class FileStorage {
  /** The upload limit in bytes, for transports that enforce it early. */
  abstract readonly maxUploadBytes: number;

  /**
   * Checks, stores and (when configured) scans a file. Resolves only once the
   * file is available; on any failure nothing of it is kept.
   */
  abstract upload(organizationId: OrganizationId, request: UploadRequest): Promise<AvailableFile>;

  /** An available file of this organization, or StoredFileNotFoundError. */
  abstract find(organizationId: OrganizationId, fileName: string): Promise<AvailableFile>;

  abstract read(file: AvailableFile, range?: ByteRange): Promise<Readable>;

  /** Deletes bytes and metadata for good, or StoredFileNotFoundError. */
  abstract delete(organizationId: OrganizationId, fileName: string): Promise<void>;

  /**
   * Available files created before `createdBefore`, oldest first, after the
   * `after` cursor. Crosses organizations: for sweepers only.
   */
  abstract listAvailableAcrossOrganizations(createdBefore: Date, after: FileListing | undefined, limit: number): Promise<FileListing[]>;

  /** Throws if the object store cannot serve requests. */
  abstract checkReadiness(): Promise<void>;
}
