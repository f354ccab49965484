import { createParamDecorator, type ExecutionContext, SetMetadata, UseGuards, applyDecorators } from '@nestjs/common';
import { AuthenticationError } from './errors.js';
import type { OrganizationId } from './organization-id.js';
import { OwnOrganizationGuard, OWN_ORGANIZATION_PARAM } from './own-organization.guard.js';
import { principalOf } from './request-principal.js';

export const IS_PUBLIC = 'tenancy:is-public';

/** Marks a route that needs no bearer token (health probes, API docs). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * Injects the caller's organization. Fails closed: a handler reached without
 * a verified principal (a route that forgot the guard) gets 401, not undefined.
 */
export const CurrentOrganization = createParamDecorator((_: unknown, ctx: ExecutionContext): OrganizationId => {
  const principal = principalOf(ctx.switchToHttp().getRequest());
  if (!principal) throw new AuthenticationError('Authentication is required', { required: true });
  return principal.organizationId;
});

/**
 * Refuses (403) a request whose route parameter `param` names another
 * organization than the caller's, before the handler does any lookup.
 */
export const RequireOwnOrganization = (param: string) =>
  applyDecorators(SetMetadata(OWN_ORGANIZATION_PARAM, param), UseGuards(OwnOrganizationGuard));
