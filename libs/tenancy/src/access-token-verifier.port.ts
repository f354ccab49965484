import type { OrganizationId } from './organization-id.js';

export interface Principal {
  organizationId: OrganizationId;
  /** The token's `sub`, for audit logs; never used for authorization. */
  subject?: string;
}

/**
 * Port: turns a bearer token into a principal, or throws AuthenticationError
 * (or IdentityProviderUnavailableError when the keys cannot be fetched).
 */
export abstract class AccessTokenVerifier {
  abstract verify(token: string): Promise<Principal>;
}
