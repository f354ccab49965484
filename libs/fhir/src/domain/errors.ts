import { DomainError, type DomainErrorKind } from '@app/common';

/** One problem found in a resource, where FHIRPath-like `expression` says where. */
export interface ResourceIssue {
  message: string;
  expression?: string;
}

export class UnknownResourceTypeError extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'unknown_resource_type';
  constructor(type: string) {
    super(`This server does not serve the resource type '${type}'`);
  }
}

/** Unknown id, or another organization's: the two are indistinguishable on purpose. */
export class ResourceNotFoundError extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'resource_not_found';
  constructor(type: string, id: string) {
    super(`${type}/${id} is not known`);
  }
}

/** No such attachment field on the type, no attachment at the index, or none this server can serve. */
export class AttachmentNotFoundError extends DomainError {
  readonly kind = 'not_found';
  readonly code = 'attachment_not_found';
}

/** The request is not a resource at all, or contradicts its URL. */
export class MalformedResourceError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'malformed_resource';
}

/** A well-formed resource that breaks the FHIR R4 definitions or this server's rules. */
export class InvalidResourceError extends DomainError {
  readonly kind = 'unprocessable';
  readonly code = 'invalid_resource';
  constructor(readonly issues: ResourceIssue[]) {
    super(issues.map((i) => (i.expression ? `${i.expression}: ${i.message}` : i.message)).join('; '));
  }

  static single(message: string, expression?: string): InvalidResourceError {
    return new InvalidResourceError([{ message, expression }]);
  }
}

/** If-Match named another version than the current one. */
export class VersionConflictError extends DomainError {
  readonly kind = 'precondition_failed';
  readonly code = 'version_conflict';
  constructor(current: string) {
    super(`The resource is at version ${current}; re-read it and retry`);
  }
}

/**
 * A Binary whose securityContext names a resource the caller cannot read: one
 * that no longer exists in the organization (access is per organization).
 */
export class SecurityContextDeniedError extends DomainError {
  readonly kind = 'forbidden';
  readonly code = 'security_context';
  constructor(reference: string) {
    super(`This Binary is readable only with access to ${reference}, which no longer exists in the organization`);
  }
}

/** A file that resources still link is not deleted behind their back. */
export class FileInUseError extends DomainError {
  readonly kind = 'conflict';
  readonly code = 'file_in_use';
  constructor(readonly linkedBy: readonly string[]) {
    super(
      `The file is linked from ${linkedBy.join(', ')}: delete those resources, or update them to drop the attachment, ` +
        'and the file is deleted with its last link',
    );
  }
}

/** FHIR_REQUIRE_IF_MATCH: a change without If-Match could overwrite someone else's. */
export class IfMatchRequiredError extends DomainError {
  readonly kind = 'precondition_required';
  readonly code = 'if_match_required';
  constructor() {
    super('Send If-Match with the version you read (the ETag, e.g. W/"3"): this server refuses changes that could overwrite another');
  }
}

export class InvalidSearchError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'invalid_search';
}

/**
 * A Bundle entry's error, saying which entry: for a transaction, the answer to
 * the whole of it. Keeps the error's kind (its status), code and retry advice,
 * and moves its issues' expressions under the entry (`Bundle.entry[2].resource.content[0]`).
 */
export class BundleEntryError extends DomainError {
  readonly kind: DomainErrorKind;
  readonly code: string;
  override readonly retryAfterSeconds?: number;
  override readonly reason?: string;
  readonly issues?: ResourceIssue[];

  constructor(index: number, cause: DomainError) {
    const entry = `Bundle.entry[${index}]`;
    super(`${entry}: ${cause.message}`, { cause });
    this.kind = cause.kind;
    this.code = cause.code;
    this.retryAfterSeconds = cause.retryAfterSeconds;
    this.reason = cause.reason;
    const issues = (cause as { issues?: ResourceIssue[] }).issues;
    this.issues = issues?.map((i) => ({
      message: i.message,
      expression: i.expression?.startsWith('Bundle.') ? i.expression : `${entry}.resource${i.expression?.replace(/^[A-Z][A-Za-z]*/, '') ?? ''}`,
    })) ?? [{ message: cause.message, expression: entry }];
  }
}

/** The answer to a Bundle's reads would outgrow what a request may be (FHIR_MAX_BODY_BYTES). */
export class BundleAnswerTooLargeError extends DomainError {
  readonly kind = 'too_large';
  readonly code = 'bundle_answer_too_large';
  constructor() {
    super('The answers to this Bundle\'s reads and searches would be larger than FHIR_MAX_BODY_BYTES: read them in smaller Bundles, or on their own');
  }
}
