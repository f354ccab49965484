import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { runPeriodically, ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { FileStorage, type FileListing } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import { ResourceRepository } from '../ports/resource.repository.port.js';
import { ReleasedFiles } from './released-files.js';

const BATCH = 500;
const MAX_INTERVAL_MS = 15 * 60_000;
const MIN_INTERVAL_MS = 1_000;
/** A release older than this was abandoned (a crash, the store down) rather than still being deleted. */
const ABANDONED_RELEASE_MS = 5 * 60_000;
/** Longer than any request (300 s) that may have seen a file available before it was released. */
const TOMBSTONE_MS = 60 * 60_000;

/**
 * Finishes deletions of released files that failed (a crash, the store down)
 * and purges old release tombstones. When ORPHAN_GRACE_HOURS is set (it is
 * not by default: a file stays until someone deletes it), it also deletes
 * files that no resource linked within that many hours of their upload.
 * Those are judged once, oldest first: a file old enough and linked stays
 * until the last resource linking it lets go of it, which deletes it then.
 */
@Injectable()
export class OrphanFileSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('OrphanFileSweeper');
  /** Unset: never-linked files are kept. */
  private readonly graceMs?: number;
  private stop?: () => void;
  /** Files up to here have been judged; a restart judges them again, which is harmless. */
  private cursor?: FileListing;

  constructor(
    config: AppConfig,
    private readonly files: FileStorage,
    private readonly repository: ResourceRepository,
    private readonly released: ReleasedFiles,
    private readonly metrics: ServiceMetrics,
  ) {
    const hours = config.fhir.orphanGraceHours;
    this.graceMs = hours === undefined ? undefined : hours * 3_600_000;
  }

  onApplicationBootstrap(): void {
    const interval = Math.max(MIN_INTERVAL_MS, Math.min((this.graceMs ?? ABANDONED_RELEASE_MS) / 4, MAX_INTERVAL_MS));
    this.stop = runPeriodically(() => this.sweep(), interval, (e) => this.logger.warn(`Sweep failed: ${e.message}`));
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }

  /** One round; returns how many files it released for deletion. */
  async sweep(now: Date = new Date()): Promise<number> {
    let released = 0;
    const abandoned = await this.repository.unfinishedReleasesAcrossOrganizations(new Date(now.getTime() - ABANDONED_RELEASE_MS), BATCH);
    for (const { organizationId, fileName } of abandoned) {
      const deleted = await this.released.delete(organizationId, [fileName], 'finishing an interrupted deletion');
      this.metrics.sweeperDeletions.inc({ sweeper: 'interrupted_deletion' }, deleted);
    }

    await this.repository.purgeTombstonesAcrossOrganizations(new Date(now.getTime() - TOMBSTONE_MS));

    if (this.graceMs === undefined) return released;
    const cutoff = new Date(now.getTime() - this.graceMs);
    for (;;) {
      const batch = await this.files.listAvailableAcrossOrganizations(cutoff, this.cursor, BATCH);
      if (batch.length === 0) break;
      this.cursor = batch.at(-1);
      const byOrganization = new Map<OrganizationId, string[]>();
      for (const f of batch) byOrganization.set(f.organizationId, [...(byOrganization.get(f.organizationId) ?? []), f.fileName]);
      for (const [organizationId, fileNames] of byOrganization) {
        const orphans = await this.repository.releaseUnlinked(organizationId, fileNames);
        const deleted = await this.released.delete(organizationId, orphans, 'no resource linked it within ORPHAN_GRACE_HOURS of its upload');
        this.metrics.sweeperDeletions.inc({ sweeper: 'orphan' }, deleted);
        released += orphans.length;
      }
      if (batch.length < BATCH) break;
    }
    return released;
  }
}
