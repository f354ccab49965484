export { AuditModule } from './audit.module.js';
export { AuditTrail } from './application/audit-trail.js';
export { AuditAccessDeniedError, AuditUnavailableError } from './errors.js';
export {
  AUDIT_SYSTEMS,
  SERVICE_CHAIN,
  toAuditEvent,
  type AuditAction,
  type AuditAgent,
  type AuditEntities,
  type AuditRecord,
} from './domain/audit-event.js';
export { AUDIT_SEARCH_PARAMETERS, auditEventCapability, parseAuditSearch, type AuditQuery } from './domain/audit-search.js';
export type { ChainVerification } from './ports/audit-store.port.js';
