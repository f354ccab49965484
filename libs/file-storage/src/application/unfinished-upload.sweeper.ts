import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { runPeriodically, ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { storageKey } from '../domain/stored-file.js';
import { FileRecordRepository } from '../ports/file-record.repository.port.js';
import { ObjectStore } from '../ports/object-store.port.js';

const BATCH = 100;
const MAX_INTERVAL_MS = 15 * 60_000;

/**
 * Removes uploads that never became available, and deletions that never
 * finished, once they are older than PENDING_UPLOAD_TTL_SECONDS: the bytes
 * (and whatever an interrupted write left) first, then the record, so a
 * crash here too is retried on the next round.
 */
@Injectable()
export class UnfinishedUploadSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('UnfinishedUploadSweeper');
  private readonly ttlMs: number;
  private stop?: () => void;

  constructor(
    config: AppConfig,
    private readonly records: FileRecordRepository,
    private readonly store: ObjectStore,
    private readonly metrics: ServiceMetrics,
  ) {
    this.ttlMs = config.uploads.pendingTtlSeconds * 1000;
  }

  onApplicationBootstrap(): void {
    this.stop = runPeriodically(() => this.sweep(), Math.min(this.ttlMs / 4, MAX_INTERVAL_MS), (e) =>
      this.logger.warn(`Sweep failed: ${e.message}`),
    );
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }

  /** One round; returns how many files were removed. */
  async sweep(now: Date = new Date()): Promise<number> {
    const claimed = await this.records.claimUnfinishedAcrossOrganizations(new Date(now.getTime() - this.ttlMs), BATCH);
    let removed = 0;
    for (const file of claimed) {
      const key = storageKey(file);
      try {
        // A crash mid-upload leaves a temp file or an incomplete multipart upload, not an object.
        await this.store.removeUnfinished(key);
        await this.store.delete(key);
        await this.records.remove(file.organizationId, file.id);
        removed++;
        this.metrics.sweeperDeletions.inc({ sweeper: 'unfinished_upload' });
        this.logger.log(`Removed unfinished file ${key}`);
      } catch (e) {
        // Still `deleting` with a fresh timestamp: retried after the TTL, behind the others.
        this.logger.warn(`Could not remove unfinished file ${key}: ${(e as Error).message}`);
      }
    }
    return removed;
  }
}
