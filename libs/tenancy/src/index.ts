export type { Principal } from './access-token-verifier.port.js';
export { CurrentOrganization, Public, RequireOwnOrganization } from './decorators.js';
export { AuthenticationError, CrossOrganizationAccessError } from './errors.js';
export { ORGANIZATION_ID, parseOrganizationId, type OrganizationId } from './organization-id.js';
export { principalOf } from './request-principal.js';
export { TenancyModule } from './tenancy.module.js';
export { signDevelopmentToken } from './adapters/development-token.js';
