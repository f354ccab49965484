import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessTokenVerifier } from './access-token-verifier.port.js';
import { IS_PUBLIC } from './decorators.js';
import { AuthenticationError } from './errors.js';
import { attachPrincipal } from './request-principal.js';

/** Real tokens are well under this; anything longer is refused unparsed. */
const MAX_TOKEN_LENGTH = 8192;
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

/**
 * Global guard: every route needs a valid bearer token unless marked @Public().
 * The organization comes from the verified token only.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: AccessTokenVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const header = request.headers.authorization;
    if (typeof header !== 'string' || header.length === 0) {
      throw new AuthenticationError('A bearer token is required', { required: true });
    }
    const match = header.length <= MAX_TOKEN_LENGTH ? BEARER.exec(header) : null;
    if (!match) throw new AuthenticationError('The Authorization header is not a bearer JWT');
    attachPrincipal(request, await this.verifier.verify(match[1]!));
    return true;
  }
}
