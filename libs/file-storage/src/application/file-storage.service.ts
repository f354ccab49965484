import type { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@app/config';
import { VirusScanner } from '@app/scanning';
import type { OrganizationId } from '@app/tenancy';
import { ContentInspector, SNIFF_BYTES, type ContentDecision } from '../domain/content-inspector.js';
import {
  InfectedFileError,
  InvalidUploadError,
  ScanIncompleteError,
  StorageUnavailableError,
  StoredFileNotFoundError,
} from '../domain/errors.js';
import { sanitizeFileName } from '../domain/file-name.js';
import { representationOf } from '../domain/representation.js';
import { isFileName, newFileId, storageKey, type AvailableFile, type FileListing } from '../domain/stored-file.js';
import { FileRecordRepository, type CompletedUpload, type NewFileRecord } from '../ports/file-record.repository.port.js';
import { FileStorage, type SignedFile, type SignedUrlRequest, type UploadRequest } from '../ports/file-storage.port.js';
import { ObjectStore, type ByteRange } from '../ports/object-store.port.js';
import { measure } from './measure.js';
import { peek } from './peek.js';
import { tee } from './tee.js';

type ScanFacts = Pick<CompletedUpload, 'scanStatus' | 'scanEngine'>;

/** Stops one branch of the tee because the other side already settled; never the root cause. */
class ReaderStoppedError extends Error {
  constructor() {
    super('A reader stopped before the end of the content');
  }
}

/**
 * Upload order that can neither lose nor leak a file: a `pending` record,
 * then the bytes (checked and hashed as they stream), then `available`.
 * Only available files are served; the sweeper clears what a crash left.
 */
@Injectable()
export class FileStorageService extends FileStorage {
  private readonly logger = new Logger('FileStorage');
  private readonly inspector: ContentInspector;
  readonly maxUploadBytes: number;
  private readonly signedUrlSeconds: number;

  constructor(
    config: AppConfig,
    private readonly store: ObjectStore,
    private readonly records: FileRecordRepository,
    private readonly scanner: VirusScanner,
  ) {
    super();
    this.maxUploadBytes = config.uploads.maxBytes;
    this.signedUrlSeconds = config.presignExpiresSeconds;
    this.inspector = new ContentInspector(config.uploads.allowedContentTypes);
  }

  async upload(organizationId: OrganizationId, request: UploadRequest): Promise<AvailableFile> {
    const started = Date.now();
    const originalName = sanitizeFileName(request.fileName);
    const peeked = await peek(request.content, SNIFF_BYTES);
    let decision: ContentDecision;
    try {
      if (peeked.head.length === 0) throw new InvalidUploadError('The file is empty');
      decision = await this.inspector.inspect({ head: peeked.head, fileName: originalName, declaredType: request.declaredType });
    } catch (e) {
      peeked.discard();
      throw e;
    }

    const id = newFileId();
    const record: NewFileRecord = {
      organizationId,
      id,
      fileName: `${id}.${decision.rule.canonicalExtension}`,
      originalName,
      contentType: decision.rule.contentType,
    };
    const key = storageKey(record);
    try {
      await this.records.insertPending(record);
      const measured = measure(peeked.body, this.maxUploadBytes, decision.bodyCheck);
      const scan = await this.write(key, record.contentType, measured);
      const file = await this.records.markAvailable(organizationId, id, { ...measured.result(), ...scan });
      this.logger.log(`Stored ${key} (${file.contentType}, ${file.size} bytes) in ${Date.now() - started} ms`);
      return file;
    } catch (e) {
      peeked.discard();
      await this.forget(organizationId, id, key);
      throw e;
    }
  }

  async find(organizationId: OrganizationId, fileName: string): Promise<AvailableFile> {
    const file = isFileName(fileName) ? await this.records.findAvailable(organizationId, fileName) : null;
    if (!file) throw new StoredFileNotFoundError();
    return file;
  }

  read(file: AvailableFile, range?: ByteRange): Promise<Readable> {
    return this.store.get(storageKey(file), range);
  }

  signedUrl(file: AvailableFile, request: SignedUrlRequest): Promise<string> {
    return this.store.presign(storageKey(file), {
      method: request.method,
      expiresInSeconds: this.signedUrlSeconds,
      ...representationOf(file, request.inline),
    });
  }

  async openSigned(organizationId: string, fileName: string, query: Record<string, unknown>, method: 'GET' | 'HEAD'): Promise<SignedFile> {
    // The signature covers the key, so the organization in the path is as trustworthy as a token's once it verifies.
    const representation = this.store.verifySigned(`${organizationId}/${fileName}`, query, method);
    return { file: await this.find(organizationId as OrganizationId, fileName), representation };
  }

  async delete(organizationId: OrganizationId, fileName: string): Promise<void> {
    // A deletion that failed half-way is found again, so the client can retry it.
    const file = isFileName(fileName) ? await this.records.findDeletable(organizationId, fileName) : null;
    if (!file) throw new StoredFileNotFoundError();
    // Invisible from here on, whatever happens next.
    if (file.status === 'available') await this.records.markDeleting(organizationId, file.id);
    const key = storageKey(file);
    try {
      await this.store.delete(key);
    } catch (e) {
      this.logger.warn(`Deleting ${key} failed (${(e as Error).message}); it is no longer served`);
      throw new StorageUnavailableError('The file is no longer served but its bytes could not be removed yet; retry the DELETE', { cause: e });
    }
    await this.records.remove(organizationId, file.id);
    this.logger.log(`Deleted ${key}`);
  }

  listAvailableAcrossOrganizations(createdBefore: Date, after: FileListing | undefined, limit: number): Promise<FileListing[]> {
    return this.records.listAvailableAcrossOrganizations(createdBefore, after, limit);
  }

  checkReadiness(): Promise<void> {
    return this.store.check();
  }

  /**
   * Streams the content into the store and, when scanning is on, into the
   * scanner at the same time. Resolves only if both succeed and the verdict
   * is clean.
   */
  private async write(key: string, contentType: string, measured: ReturnType<typeof measure>): Promise<ScanFacts> {
    if (!this.scanner.enabled) {
      await this.store.put(key, measured.stream, { contentType });
      return { scanStatus: 'not_scanned', scanEngine: null };
    }
    const [toStore, toScanner] = tee(measured.stream);
    // A reader that settles before the end (a scanner answering without
    // reading everything, a failed put) stops its branch; tee then fails the
    // other one instead of waiting forever for it to drain.
    const untilEnd = <T>(branch: Readable, work: Promise<T>) =>
      work.finally(() => {
        if (!branch.readableEnded) branch.destroy(new ReaderStoppedError());
      });
    const [stored, scanned] = await Promise.allSettled([
      untilEnd(toStore, this.store.put(key, toStore, { contentType })),
      untilEnd(toScanner, this.scanner.scan(toScanner)),
    ]);
    // A refused or broken upload explains every other failure it caused; after
    // that, the side that failed first explains the other side being stopped.
    if (measured.failure) throw measured.failure;
    if (scanned.status === 'rejected' || stored.status === 'rejected') {
      const failures = [scanned, stored].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      throw failures.find((e) => !(e instanceof ReaderStoppedError)) ?? failures[0];
    }
    const verdict = scanned.value;
    if (verdict.status === 'infected') {
      this.logger.warn(`Refused ${key}: infected with ${verdict.signature}`);
      throw new InfectedFileError(verdict.signature);
    }
    // Fail closed: only an explicit clean verdict on every byte counts.
    if (verdict.status !== 'clean' || !toScanner.readableEnded) {
      throw new ScanIncompleteError();
    }
    return { scanStatus: 'clean', scanEngine: verdict.engine };
  }

  /** Best effort: whatever fails here is still `pending` and the sweeper removes it. */
  private async forget(organizationId: OrganizationId, id: string, key: string): Promise<void> {
    try {
      await this.store.delete(key);
      await this.records.remove(organizationId, id);
    } catch (e) {
      this.logger.warn(`Cleaning up rejected upload ${key} failed (${(e as Error).message}); the sweeper will retry`);
    }
  }
}
