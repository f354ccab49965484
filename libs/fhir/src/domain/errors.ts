import { DomainError } from '@app/common';

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

export class InvalidSearchError extends DomainError {
  readonly kind = 'invalid_input';
  readonly code = 'invalid_search';
}
