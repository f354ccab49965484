import type { Readable, Writable } from 'node:stream';
import type { CommitRider } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import type { AvailableFile, FileListing, HeldFile, ServableFile } from '../domain/stored-file.js';
import type { Representation } from '../domain/representation.js';
import type { ByteRange } from './object-store.port.js';

export interface SignedUrlRequest {
  /** S3 refuses a URL signed for GET on HEAD, so a HEAD needs its own. */
  method: 'GET' | 'HEAD';
  /** Inline is honoured only for types that cannot carry script (see representationOf). */
  inline: boolean;
}

/** A file reached through a signed URL, with the representation the signature carries. */
export interface SignedFile {
  file: AvailableFile;
  representation: Representation;
}

export interface FileListPage {
  /** Available files of the organization, newest first. */
  files: AvailableFile[];
  /** Opaque: pass it as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface UploadRequest {
  content: Readable;
  /** The client's file name; its extension is one of the three witnesses of the type. */
  fileName: string;
  /** The client's declared MIME type, if any. */
  declaredType?: string;
  /** Kept with the file (StoredFile.securityContext); the caller has checked it. */
  securityContext?: string;
  /**
   * What must commit with the file's `available` mark, or not at all (the upload's audit
   * record), asked for with the file's key just before the mark; undefined for nothing.
   * Only `upload` has that mark: `hold` ignores it.
   */
  alongside?: (key: string) => CommitRider | undefined;
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

  /**
   * The same checks, scan and storage as upload, for a file that belongs to
   * work not yet committed (a FHIR transaction): the file stays pending,
   * neither served nor linkable, until `confirm` makes it available in that
   * work's own database transaction, or `abandon` removes it. One never
   * confirmed within PENDING_UPLOAD_TTL_SECONDS is removed by the sweeper.
   */
  abstract hold(organizationId: OrganizationId, request: UploadRequest): Promise<HeldFile>;

  /** Held files → available, all or none (UploadExpiredError, 503); joins the caller's open database transaction. */
  abstract confirm(organizationId: OrganizationId, files: readonly HeldFile[]): Promise<void>;

  /** Removes held files whose work did not commit: bytes and record. Never fails; what it cannot remove the sweeper does. */
  abstract abandon(organizationId: OrganizationId, files: readonly HeldFile[]): Promise<void>;

  /** One page of the organization's available files, newest first; InvalidRequestError for a cursor it did not hand out. */
  abstract list(organizationId: OrganizationId, page: { limit: number; cursor?: string }): Promise<FileListPage>;

  /** An available file of this organization, or StoredFileNotFoundError. */
  abstract find(organizationId: OrganizationId, fileName: string): Promise<AvailableFile>;

  /** The same, by the file's id (its name without the extension: a Binary's id). */
  abstract findById(organizationId: OrganizationId, id: string): Promise<AvailableFile>;

  /** Writes the file's bytes (or a range) into `destination`, as ObjectStore.writeTo does. */
  abstract writeTo(file: AvailableFile, destination: Writable, range?: ByteRange): Promise<void>;

  /**
   * A URL that serves the file, with its representation, to anyone who holds
   * it until PRESIGN_EXPIRES_SECONDS have passed: for an available file, or
   * one a resource links (which cannot be deleted while it does). Absolute for
   * stores with their own endpoint (S3); for the fs store a path on this
   * service, which `openSigned` checks when it is fetched. The URL is a
   * credential: never log it.
   */
  abstract signedUrl(file: ServableFile, request: SignedUrlRequest): Promise<string>;

  /**
   * The file behind a signed path of this service (`/signed-files/<orgId>/<fileName>?...`).
   * InvalidSignedUrlError (403) when the URL was tampered with, has expired or
   * is for another method; a not-found error (404) when the file is gone or the
   * store serves its own signed URLs.
   */
  abstract openSigned(organizationId: string, fileName: string, query: Record<string, unknown>, method: 'GET' | 'HEAD'): Promise<SignedFile>;

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
