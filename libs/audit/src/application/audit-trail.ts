import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { AuditLogStream } from '../adapters/audit-log-stream.js';
import { columnsOf, SERVICE_CHAIN, toAuditEvent, type AuditRecord } from '../domain/audit-event.js';
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
    const organizationId = record.agent.organizationId ?? SERVICE_CHAIN;
    try {
      await this.store.append(organizationId, event, columnsOf(record));
      this.stream.write(event);
      this.metrics.auditEvents.inc({ outcome: 'stored' });
    } catch (e) {
      this.metrics.auditEvents.inc({ outcome: 'failed' });
      this.logger.error(`Could not record the audit event of request ${record.requestId}: ${(e as Error).message}`);
      if (this.required) throw new AuditUnavailableError({ cause: e });
    }
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
