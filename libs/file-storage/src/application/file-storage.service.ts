import type { Readable, Writable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { DomainError, InvalidRequestError, ServiceMetrics, settledWithin, watchRejection } from '@app/common';
import { AppConfig } from '@app/config';
import { VirusScanner, type ScanVerdict } from '@app/scanning';
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
import { FILE_ID, isFileName, newFileId, storageKey, type AvailableFile, type FileListing, type HeldFile, type ServableFile } from '../domain/stored-file.js';
import { FileRecordRepository, type CompletedUpload, type FilePosition, type NewFileRecord } from '../ports/file-record.repository.port.js';
import { FileStorage, type FileListPage, type SignedFile, type SignedUrlRequest, type UploadRequest } from '../ports/file-storage.port.js';
import { ObjectStore, type ByteRange } from '../ports/object-store.port.js';
import { measure } from './measure.js';
import { peek } from './peek.js';
import { ReaderStoppedError, tee } from './tee.js';

type ScanFacts = Pick<CompletedUpload, 'scanStatus' | 'scanEngine'>;

/**
 * Longest a refused upload's answer waits for its bytes and row to be removed. A refusal is
 * answered with nothing left behind; a cleanup that a slow dependency holds up goes on after the
 * answer, and what it cannot finish stays pending for the sweeper.
 */
const CLEANUP_WAIT_MS = 5000;

/** A timestamptz as Postgres writes it as text (DateStyle ISO), microseconds included. */
const POSTGRES_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;

function parseCursor(cursor: string): FilePosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof createdAt === 'string' && POSTGRES_TIMESTAMP.test(createdAt) && typeof id === 'string' && /^[0-9a-f]{32}$/.test(id)) {
      return { createdAt, id };
    }
  } catch {
    // Not ours: refused below.
  }
  throw new InvalidRequestError('cursor must be the nextCursor of a previous page');
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
    private readonly metrics: ServiceMetrics,
  ) {
    super();
    this.maxUploadBytes = config.uploads.maxBytes;
    this.signedUrlSeconds = config.presignExpiresSeconds;
    this.inspector = new ContentInspector(config.uploads.allowedContentTypes);
  }

  upload(organizationId: OrganizationId, request: UploadRequest): Promise<AvailableFile> {
    return this.receive(organizationId, request, (id, facts, key) => this.records.markAvailable(organizationId, id, facts, request.alongside?.(key)));
  }

  hold(organizationId: OrganizationId, request: UploadRequest): Promise<HeldFile> {
    return this.receive(organizationId, request, (id, facts) => this.records.markChecked(organizationId, id, facts));
  }

  async confirm(organizationId: OrganizationId, files: readonly HeldFile[]): Promise<void> {
    await this.records.confirm(organizationId, files.map((f) => f.id));
  }

  async abandon(organizationId: OrganizationId, files: readonly HeldFile[]): Promise<void> {
    await Promise.all(files.map((f) => this.forget(organizationId, f.id, storageKey(f))));
  }

  /** Checks, stores and scans `request`, then records it as `finish` says; on any failure nothing of it is kept. */
  private async receive<F extends AvailableFile | HeldFile>(
    organizationId: OrganizationId,
    request: UploadRequest,
    finish: (id: string, facts: CompletedUpload, key: string) => Promise<F>,
  ): Promise<F> {
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
      securityContext: request.securityContext ?? null,
    };
    const key = storageKey(record);
    // The record is made while the bytes are written; the store shows them under the key only once it exists.
    const recorded = this.records.insertPending(record);
    recorded.catch(() => undefined); // the put rejects with its error
    try {
      const measured = measure(peeked.body, this.maxUploadBytes, decision.bodyCheck);
      const scan = await this.write(key, record.contentType, measured, recorded);
      const file = await finish(id, { ...measured.result(), ...scan }, key);
      this.logger.log(`Stored ${key} (${file.contentType}, ${file.size} bytes${file.status === 'pending' ? ', held for its transaction' : ''}) in ${Date.now() - started} ms`);
      this.metrics.storedBytes.inc(file.size);
      return file;
    } catch (e) {
      peeked.discard();
      // A record still being made would outlive a cleanup that ran before it.
      const cleanup = recorded.catch(() => undefined).then(() => this.forget(organizationId, id, key));
      // A store that is out is answered at once: the cleanup needs that store and would only be held up.
      if (!(e instanceof StorageUnavailableError)) await settledWithin(cleanup, CLEANUP_WAIT_MS);
      throw e;
    }
  }

  async list(organizationId: OrganizationId, page: { limit: number; cursor?: string }): Promise<FileListPage> {
    const { files, next } = await this.records.listAvailable(organizationId, page.limit, page.cursor ? parseCursor(page.cursor) : undefined);
    return { files, nextCursor: next && Buffer.from(JSON.stringify([next.createdAt, next.id])).toString('base64url') };
  }

  async find(organizationId: OrganizationId, fileName: string): Promise<AvailableFile> {
    const file = isFileName(fileName) ? await this.records.findAvailable(organizationId, fileName) : null;
    if (!file) throw new StoredFileNotFoundError();
    return file;
  }

  async findById(organizationId: OrganizationId, id: string): Promise<AvailableFile> {
    const file = FILE_ID.test(id) ? await this.records.findAvailableById(organizationId, id) : null;
    if (!file) throw new StoredFileNotFoundError();
    return file;
  }

  writeTo(file: AvailableFile, destination: Writable, range?: ByteRange): Promise<void> {
    // Always the bytes the record promises (its size is the answer's Content-Length): a stored file
    // found shorter fails the copy, and one found longer is cut, rather than sending other bytes.
    return this.store.writeTo(storageKey(file), destination, range ?? { start: 0, end: file.size - 1 });
  }

  signedUrl(file: ServableFile, request: SignedUrlRequest): Promise<string> {
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
   * scanner at the same time, while the file's record is being made
   * (`recorded`). Resolves only if all three succeed and the verdict is clean.
   */
  private async write(key: string, contentType: string, measured: ReturnType<typeof measure>, recorded: Promise<void>): Promise<ScanFacts> {
    const record = watchRejection(recorded);
    const [toStore, toScanner] = this.scanner.enabled ? tee(measured.stream) : [measured.stream];
    // A reader that settles before the end (a scanner answering without
    // reading everything, a failed put) stops its branch; tee then fails the
    // other one with ReaderStoppedError instead of letting it wait for ever.
    const untilEnd = <T>(branch: Readable, work: Promise<T>) =>
      work.finally(() => {
        if (!branch.readableEnded) branch.destroy();
      });
    const [stored, scanned] = await Promise.allSettled([
      untilEnd(toStore, this.store.put(key, toStore, { contentType, after: recorded })),
      toScanner ? untilEnd(toScanner, this.timedScan(toScanner, measured)) : undefined,
    ]);
    // The content's own refusal (too large, not what it claims, the client's
    // stream failing) explains every other failure it caused, a failed abort
    // of a multipart upload included.
    if (measured.failure) throw measured.failure;
    // Then the record not being made: the store stops the write for it, which the scanner's branch sees too.
    if (record.rejected) throw record.rejected.error;
    // Then the side that failed of its own accord: an adapter's own error
    // (the disk full, clamd gone) before the raw error the tee passed on to
    // the other side; a branch stopped because the other settled early is
    // never the cause.
    const failures = [scanned, stored].flatMap((r) => (r.status === 'rejected' && !(r.reason instanceof ReaderStoppedError) ? [r.reason] : []));
    if (failures.length > 0) throw failures.find((e) => e instanceof DomainError) ?? failures[0];
    const verdict = scanned.status === 'fulfilled' ? scanned.value : undefined;
    if (verdict?.status === 'infected') {
      this.logger.warn(`Refused ${key}: infected with ${verdict.signature}`);
      throw new InfectedFileError(verdict.signature);
    }
    if (!toScanner) return { scanStatus: 'not_scanned', scanEngine: null };
    // Fail closed: only an explicit clean verdict on every byte, with every byte stored, counts.
    if (verdict?.status !== 'clean' || !toScanner.readableEnded || stored.status === 'rejected') {
      throw new ScanIncompleteError();
    }
    return { scanStatus: 'clean', scanEngine: verdict.engine };
  }

  /** The scan, timed by its verdict; `stopped` when the upload ended it (refused content, the store failing, the client gone). */
  private async timedScan(content: Readable, measured: ReturnType<typeof measure>): Promise<ScanVerdict> {
    const done = this.metrics.scanDuration.startTimer();
    try {
      const verdict = await this.scanner.scan(content);
      done({ verdict: verdict.status });
      return verdict;
    } catch (e) {
      done({ verdict: e instanceof ReaderStoppedError || measured.failure ? 'stopped' : 'failed' });
      throw e;
    }
  }

  /** Best effort: whatever fails here is still `pending` and the sweeper removes it. */
  private async forget(organizationId: OrganizationId, id: string, key: string): Promise<void> {
    try {
      // A multipart upload cut short is not aborted by the put (that would hold the answer up): here.
      await this.store.removeUnfinished(key);
      await this.store.delete(key);
      await this.records.remove(organizationId, id);
    } catch (e) {
      this.logger.warn(`Cleaning up rejected upload ${key} failed (${(e as Error).message}); the sweeper will retry`);
    }
  }
}
