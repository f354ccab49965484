import { DomainError } from '@app/common';

/** Postgres could not be reached, or did not answer in time: the request may succeed if retried. */
export class DatabaseUnavailableError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'database_unavailable';
  override readonly retryAfterSeconds = 5;
  constructor(options?: ErrorOptions) {
    super('The database is unavailable; retry shortly', options);
  }
}

/**
 * SQLSTATE classes and codes that say the server or the connection failed,
 * not the statement: 08 connection exceptions, 53 insufficient resources
 * (too many connections), 57 operator intervention (shutdown, statement
 * timeout), 40001/40P01 serialization failure and deadlock (retry).
 */
const UNAVAILABLE_STATES = /^(08|53|57)|^(40001|40P01)$/;

/** What node-postgres and its pool throw when they cannot get an answer, in their own words. */
const UNAVAILABLE_MESSAGES = [
  'timeout exceeded when trying to connect',
  'Connection terminated',
  'Query read timeout',
  'Client has encountered a connection error',
  'Connection ended',
];

/**
 * The DomainError for a database failure that is not the request's fault, or
 * undefined for anything else (a constraint violation is a bug, a 500).
 */
export function databaseUnavailable(e: unknown): DatabaseUnavailableError | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  // TypeORM wraps the driver's error.
  const cause = ((e as { driverError?: unknown }).driverError ?? e) as { code?: unknown; message?: unknown };
  const code = typeof cause.code === 'string' ? cause.code : '';
  const message = typeof cause.message === 'string' ? cause.message : '';
  const unavailable =
    UNAVAILABLE_STATES.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code) ||
    UNAVAILABLE_MESSAGES.some((m) => message.includes(m));
  return unavailable ? new DatabaseUnavailableError({ cause: e }) : undefined;
}
