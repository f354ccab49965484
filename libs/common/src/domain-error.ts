/**
 * Kinds of failure the domain can report. Each kind maps to exactly one HTTP
 * status in the API's exception filter; the domain itself never speaks HTTP.
 */
export type DomainErrorKind =
  | 'invalid_input'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'not_acceptable'
  | 'request_timeout'
  | 'conflict'
  | 'precondition_failed'
  | 'precondition_required'
  | 'range_not_satisfiable'
  | 'too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'unavailable'
  | 'insufficient_storage';

/**
 * Base class for every error that application code throws on purpose.
 * `code` is stable and machine-readable; `message` is safe to show a client.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  abstract readonly code: string;
  /** Seconds a client should wait before retrying, for `unavailable` errors. */
  readonly retryAfterSeconds?: number;
  /** The size of the representation, for `range_not_satisfiable` errors (Content-Range: bytes *\/<size>). */
  readonly completeLength?: number;
  /** Which check failed, where one code covers several (415: which witness disagreed); for metrics and logs. */
  readonly reason?: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request whose parameters or headers are not what the API takes. */
export class InvalidRequestError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'invalid_request';
}
