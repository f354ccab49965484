import { DomainError } from '@app/common';

/** Which of the checks that must agree refused a file (or a resource's declared type). */
export type UnsupportedContentReason =
  | 'no_extension'
  | 'extension_not_accepted'
  | 'declared_type_mismatch'
  | 'content_mismatch'
  | 'unrecognised_content'
  | 'not_text'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'json_too_deep'
  | 'media_type_not_accepted';

export class UnsupportedContentError extends DomainError {
  readonly kind = 'unsupported_media_type';
  readonly code = 'unsupported_content';
  constructor(
    override readonly reason: UnsupportedContentReason,
    message: string,
  ) {
    super(message);
  }
}

export class InvalidUploadError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'invalid_upload';
}

export class FileTooLargeError extends DomainError {
  readonly kind = 'too_large';
  readonly code = 'file_too_large';
  constructor(maxBytes: number) {
    super(`The file exceeds the maximum upload size of ${maxBytes} bytes`);
  }
}

export class StoredFileNotFoundError extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'file_not_found';
  constructor() {
    super('No such file');
  }
}

/** Raised by an ObjectStore when the bytes behind a key are missing. */
export class ObjectNotFoundError extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'object_not_found';
  constructor() {
    super('No such object');
  }
}

export class InfectedFileError extends DomainError {
  readonly kind = 'unprocessable';
  readonly code = 'infected_file';
  constructor(readonly signature: string) {
    super(`The file is infected (${signature}) and was not stored`);
  }
}

/** The scanner answered without a verdict on every byte: never treated as clean. */
export class ScanIncompleteError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'scan_incomplete';
  override readonly retryAfterSeconds = 30;
  constructor() {
    super('The antivirus scan did not complete; the file was not stored');
  }
}

/** The upload outlived PENDING_UPLOAD_TTL_SECONDS and the sweeper reclaimed it. */
export class UploadExpiredError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'upload_expired';
  override readonly retryAfterSeconds = 1;
  constructor() {
    super('The upload took too long and was discarded; send it again');
  }
}

export class StorageUnavailableError extends DomainError {
  readonly kind = 'unavailable';
  readonly code: string = 'storage_unavailable';
  override readonly retryAfterSeconds = 5;
}

/** The store accepted an object without confirming the server-side encryption S3_SSE asks for. */
export class EncryptionNotConfirmedError extends StorageUnavailableError {
  override readonly code = 'encryption_not_confirmed';
  constructor(algorithm: string) {
    super(`The object store did not confirm the requested ${algorithm} encryption; the file was not kept`);
  }
}

/** The file system holding the files is full. */
export class InsufficientStorageError extends DomainError {
  readonly kind = 'insufficient_storage';
  readonly code = 'insufficient_storage';
  constructor(options?: ErrorOptions) {
    super('There is no space left to store the file; it was not kept', options);
  }
}

/** A Range that no byte of the file satisfies. */
export class RangeNotSatisfiableError extends DomainError {
  readonly kind = 'range_not_satisfiable';
  readonly code = 'range_not_satisfiable';

  constructor(override readonly completeLength: number) {
    super(`The file has ${completeLength} bytes; the requested range starts past its end`);
  }
}
