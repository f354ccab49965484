import { DomainError } from '@app/common';

/** AUDIT_REQUIRED is on and the access's audit event could not be written: no access without its record. */
export class AuditUnavailableError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'audit_unavailable';
  override readonly retryAfterSeconds = 5;
  constructor(options?: ErrorOptions) {
    super('The access could not be recorded in the audit trail, so it was not carried out; retry shortly', options);
  }
}

/** Reading the audit trail needs the audit scope in the token. */
export class AuditAccessDeniedError extends DomainError {
  readonly kind = 'forbidden';
  readonly code = 'audit_scope_required';
}
