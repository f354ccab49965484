import { randomBytes } from 'node:crypto';
import type { OrganizationId } from '@app/tenancy';

export type FileStatus = 'pending' | 'available' | 'deleting';
export type ScanStatus = 'pending' | 'not_scanned' | 'clean';

/** What the service knows about one stored file. */
export interface StoredFile {
  organizationId: OrganizationId;
  /** Random, 128 bits, lower-case hex. */
  id: string;
  /** `<id>.<canonical extension>`: the last segment of the key and the URL. */
  fileName: string;
  /** The client's file name, sanitised; used for Content-Disposition. */
  originalName: string;
  /** The detected content type. */
  contentType: string;
  status: FileStatus;
  size: number | null;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string | null;
  /** Base64 SHA-1 (FHIR Attachment.hash); null for files stored before it was recorded. */
  sha1: string | null;
  scanStatus: ScanStatus;
  scanEngine: string | null;
  /**
   * A reference (`Type/id`) whose readers alone may read the file, as FHIR's
   * Binary.securityContext says; kept, never interpreted, here: the FHIR
   * module checks it. Null: the whole organization may read it.
   */
  securityContext: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A file that has passed every check and can be served. */
export type AvailableFile = StoredFile & { status: 'available'; size: number; sha256: string };

/**
 * A file that has passed every check and is stored, held back until the work it
 * came with commits (FileStorage.hold): neither served nor linkable before.
 */
export type HeldFile = Omit<AvailableFile, 'status'> & { status: 'pending' };

/**
 * What serving a file by a signed URL needs: its key and how it is presented.
 * All of it is fixed when the file is stored, so a copy taken from an
 * available file (a resource's link to it) stays true for the file's life.
 */
export type ServableFile = Pick<StoredFile, 'organizationId' | 'fileName' | 'contentType' | 'originalName' | 'securityContext'>;

/** A file in a listing across organizations; also the cursor to list on from it. */
export type FileListing = Pick<StoredFile, 'organizationId' | 'id' | 'fileName' | 'createdAt'>;

export function newFileId(): string {
  return randomBytes(16).toString('hex');
}

/** The object-store key: `<orgId>/<fileName>`, the same on every store. */
export function storageKey(file: Pick<StoredFile, 'organizationId' | 'fileName'>): string {
  return `${file.organizationId}/${file.fileName}`;
}

/** `<fileId>.<ext>`: the last segment of a file's key and URL. */
export const FILE_NAME = /^[0-9a-f]{32}\.[a-z0-9]{1,8}$/;

/** A file's id: its name without the extension, and the id of the Binary it is. */
export const FILE_ID = /^[0-9a-f]{32}$/;

export function isFileName(value: string): boolean {
  return FILE_NAME.test(value);
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\/[0-9a-f]{32}\.[a-z0-9]{1,8}$/;

/** Keys reach adapters only in this shape, so no adapter can be steered outside its root. */
export function assertStorageKey(key: string): void {
  if (!KEY.test(key)) throw new Error('Refusing a malformed storage key');
}
