import type { OrganizationId } from './organization-id.js';

export interface Principal {
  organizationId: OrganizationId;
  /** The token's `sub`, for audit logs; never used for authorization. */
  subject?: string;
  /** The token's `azp` (or `client_id`): the application acting for the subject, for audit logs. */
  clientId?: string;
  /** The scopes in the configured claim (AUDIT_SCOPE_CLAIM), e.g. the one that reads the audit trail. */
  scopes?: readonly string[];
}

/**
 * Port: turns a bearer token into a principal, or throws AuthenticationError
 * (or IdentityProviderUnavailableError when the keys cannot be fetched).
 */
export abstract class AccessTokenVerifier {
  abstract verify(token: string): Promise<Principal>;
}
