import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthenticationError, CrossOrganizationAccessError } from './errors.js';
import { principalOf } from './request-principal.js';

export const OWN_ORGANIZATION_PARAM = 'tenancy:own-organization-param';

@Injectable()
export class OwnOrganizationGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const param = this.reflector.get<string>(OWN_ORGANIZATION_PARAM, context.getHandler());
    const request = context.switchToHttp().getRequest<{ params: Record<string, string> }>();
    const principal = principalOf(request);
    if (!principal) throw new AuthenticationError('Authentication is required', { required: true });
    if (!param || request.params[param] !== principal.organizationId) throw new CrossOrganizationAccessError('path');
    return true;
  }
}
