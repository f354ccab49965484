import { DomainError } from '@app/common';

export class UploadCapacityError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'upload_capacity';
  override readonly retryAfterSeconds = 2;
  constructor() {
    super('This instance is handling as many uploads as it can; retry shortly');
  }
}

/** No byte of the upload arrived for UPLOAD_IDLE_TIMEOUT_SECONDS. */
export class UploadStalledError extends DomainError {
  readonly kind = 'request_timeout';
  readonly code = 'upload_stalled';
  constructor(idleMs: number) {
    super(`No data arrived for ${Math.round(idleMs / 1000)} s; the upload was given up, send it again`);
  }
}

/**
 * The client closed its connection before the upload was complete. Not a
 * DomainError: it never becomes an answer, there is nobody left to answer.
 */
export class ClientGoneError extends Error {
  constructor() {
    super('The client closed the connection before the upload was complete');
    this.name = 'ClientGoneError';
  }
}
