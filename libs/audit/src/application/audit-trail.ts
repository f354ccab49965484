import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import type { CommitRider } from '@app/database';
import { AuditLogStream } from '../adapters/audit-log-stream.js';
import { columnsOf, SERVICE_CHAIN, toAuditEvent, type AuditEventJson, type AuditRecord } from '../domain/audit-event.js';
import type { AuditQuery } from '../domain/audit-search.js';
import { AuditUnavailableError } from '../errors.js';
import { AuditStore, type ChainVerification } from '../ports/audit-store.port.js';

/**
 * The audit trail: each access becomes a FHIR AuditEvent, appended to its
 * organization's chain in the store and written to AUDIT_LOG. An event that
 * cannot be stored fails the access with AuditUnavailableError when
 * AUDIT_REQUIRED is on (no read without its record); otherwise it is logged
 * and counted (attachments_audit_failures_total) and the access goes on.
 */
@Injectable()
export class AuditTrail {
  private readonly logger = new Logger('Audit');
  private readonly required: boolean;
  private readonly enabled: boolean;

  constructor(
    private readonly store: AuditStore,
    private readonly stream: AuditLogStream,
    private readonly metrics: ServiceMetrics,
    config: AppConfig,
  ) {
    this.required = config.audit.required;
    this.enabled = config.audit.enabled;
  }

  /** Records an access. Rejects only when AUDIT_REQUIRED is on and the event could not be stored. */
  async record(record: AuditRecord): Promise<void> {
    if (!this.enabled) return;
    const event = toAuditEvent(record, randomUUID());
    try {
      await this.store.append(chainOf(record), event, columnsOf(record));
      this.stored(event);
    } catch (e) {
      const refusal = this.failed(record, e);
      if (refusal) throw refusal;
    }
  }

  /**
   * Whether an access may be recorded by the write that carries it out (rider): only with
   * AUDIT_REQUIRED, where a record that cannot be stored fails the access anyway. Without it,
   * the access goes on unrecorded, which a shared commit could not do.
   */
  get ridesWrites(): boolean {
    return this.enabled && this.required;
  }

  /**
   * The access's record as a rider on the write that carries it out (see CommitRider): stored
   * in that write's statement, so the access and its record commit together or not at all. A
   * failure of the record's own part fails the write with AuditUnavailableError; undefined
   * unless ridesWrites.
   */
  rider(record: AuditRecord): CommitRider | undefined {
    if (!this.ridesWrites) return undefined;
    const event = toAuditEvent(record, randomUUID());
    const append = this.store.appendAlong(chainOf(record), event, columnsOf(record));
    return {
      expression: append.expression,
      settle: (error?: unknown) => {
        if (error === undefined) {
          // Committed: nothing here may throw, or the upload that just committed would be cleaned up as failed.
          try {
            this.stored(event);
          } catch (e) {
            this.logger.error(`Audit event of request ${record.requestId} stored, but not streamed: ${(e as Error).message}`);
          }
          return undefined;
        }
        // The write's own failure (its row gone, the database out) is its to report.
        return append.failedIn(error) ? this.failed(record, error) : error;
      },
    };
  }

  private stored(event: AuditEventJson): void {
    this.stream.write(event);
    this.metrics.auditEvents.inc({ outcome: 'stored' });
  }

  /** Counts and logs a record that could not be stored; the error that refuses its access, with AUDIT_REQUIRED. */
  private failed(record: AuditRecord, e: unknown): AuditUnavailableError | undefined {
    this.metrics.auditEvents.inc({ outcome: 'failed' });
    this.logger.error(`Could not record the audit event of request ${record.requestId}: ${(e as Error).message}`);
    return this.required ? new AuditUnavailableError({ cause: e }) : undefined;
  }

  search(organizationId: string, query: AuditQuery): Promise<{ events: Array<Record<string, unknown>>; total: number }> {
    return this.store.search(organizationId, query);
  }

  find(organizationId: string, id: string): Promise<Record<string, unknown> | null> {
    return this.store.find(organizationId, id);
  }

  verify(organizationId: string): Promise<ChainVerification> {
    return this.store.verify(organizationId);
  }
}

/** The chain an access's record joins: its organization's, else the service's own. */
function chainOf(record: AuditRecord): string {
  return record.agent.organizationId ?? SERVICE_CHAIN;
}
