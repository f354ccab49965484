import type { Readable, Writable } from 'node:stream';
import type { OnModuleInit } from '@nestjs/common';
import { reasonOf, type ServiceMetrics } from '@app/common';
import { InsufficientStorageError, ObjectNotFoundError, StorageUnavailableError } from '../domain/errors.js';
import { ObjectStore, type ByteRange, type ObjectInfo, type PresignOptions, type PutOptions, type SignedResponse } from '../ports/object-store.port.js';

type Operation = 'put' | 'get' | 'head' | 'presign' | 'delete' | 'remove_unfinished' | 'check';

/**
 * Counts the failures of whichever store is configured, by operation and
 * error code (attachments_object_store_errors_total), so an on-call engineer
 * sees the store failing before users report it. A write that failed because
 * its body did (the upload was refused, or its client left) is not the store's
 * failure and is not counted; neither is a `get` whose bytes stop halfway (a
 * client that leaves stops them too, and the stream cannot tell which).
 */
export class MeteredObjectStore extends ObjectStore implements OnModuleInit {
  constructor(
    private readonly store: ObjectStore,
    private readonly metrics: ServiceMetrics,
  ) {
    super();
  }

  /** Nest sees only this wrapper: the store's own start-up (the fs store's directories) runs from here. */
  async onModuleInit(): Promise<void> {
    await (this.store as Partial<OnModuleInit>).onModuleInit?.();
  }

  async put(key: string, body: Readable, options: PutOptions): Promise<void> {
    try {
      await this.store.put(key, body, options);
    } catch (e) {
      // The adapters turn the store's own failures into these; the body's errors pass through them.
      if (e instanceof StorageUnavailableError || e instanceof InsufficientStorageError) this.count('put', e);
      throw e;
    }
  }

  get(key: string, range?: ByteRange): Promise<Readable> {
    return this.metered('get', () => this.store.get(key, range));
  }

  /** Counted like get: the store's refusals, not bytes that stop halfway (the client may have left). */
  override async writeTo(key: string, destination: Writable, range?: ByteRange): Promise<void> {
    try {
      await this.store.writeTo(key, destination, range);
    } catch (e) {
      if (e instanceof ObjectNotFoundError || e instanceof StorageUnavailableError) this.count('get', e);
      throw e;
    }
  }

  head(key: string): Promise<ObjectInfo> {
    return this.metered('head', () => this.store.head(key));
  }

  presign(key: string, options: PresignOptions): Promise<string> {
    return this.metered('presign', () => this.store.presign(key, options));
  }

  /** Its refusals are the URL's problem, not the store's: counted where signed URLs are served. */
  verifySigned(key: string, query: Record<string, unknown>, method: 'GET' | 'HEAD'): SignedResponse {
    return this.store.verifySigned(key, query, method);
  }

  delete(key: string): Promise<void> {
    return this.metered('delete', () => this.store.delete(key));
  }

  removeUnfinished(key: string): Promise<void> {
    return this.metered('remove_unfinished', () => this.store.removeUnfinished(key));
  }

  check(): Promise<void> {
    return this.metered('check', () => this.store.check());
  }

  private async metered<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      this.count(operation, e);
      throw e;
    }
  }

  private count(operation: Operation, error: unknown): void {
    this.metrics.objectStoreErrors.inc({ operation, code: reasonOf(error) });
  }
}
