import { DomainError } from '@app/common';

export class AuthenticationError extends DomainError {
  readonly kind = 'unauthenticated';
  readonly code: 'authentication_required' | 'invalid_token';

  /** `required`: no credentials were sent at all (RFC 6750 §3.1 then wants no error code). */
  constructor(message: string, options?: ErrorOptions & { required?: boolean }) {
    super(message, options);
    this.code = options?.required ? 'authentication_required' : 'invalid_token';
  }
}

export class IdentityProviderUnavailableError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'identity_provider_unavailable';
  override readonly retryAfterSeconds = 5;
}

export class CrossOrganizationAccessError extends DomainError {
  readonly kind = 'forbidden';
  readonly code = 'cross_organization_access';
  /** `what` was asked for: a file or a resource of another organization, or a path naming another organization. */
  constructor(what: 'file' | 'resource' | 'path') {
    super(
      what === 'path'
        ? "The path names another organization than the token's; use the token's own organization id (GET /whoami)"
        : `This ${what} belongs to another organization than the token's`,
    );
  }
}
