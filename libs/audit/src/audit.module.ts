import { Module } from '@nestjs/common';
import { MetricsModule } from '@app/common';
import { AuditLogStream } from './adapters/audit-log-stream.js';
import { PostgresAuditStore } from './adapters/postgres-audit-store.js';
import { AuditTrail } from './application/audit-trail.js';
import { AuditStore } from './ports/audit-store.port.js';

/** Who accessed what: AuditEvents in Postgres (through the global DatabaseModule's OrganizationScope) and, optionally, a JSON-lines stream for SIEMs. */
@Module({
  imports: [MetricsModule],
  providers: [{ provide: AuditStore, useClass: PostgresAuditStore }, AuditLogStream, AuditTrail],
  exports: [AuditTrail],
})
export class AuditModule {}
