import { DomainError } from '@app/common';

/** clamd could not give a verdict: unreachable, too slow, or any answer but OK/FOUND. */
export class ScannerUnavailableError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'scanner_unavailable';
  override readonly retryAfterSeconds = 30;
}
