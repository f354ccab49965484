import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessTokenVerifier } from './access-token-verifier.port.js';
import { IS_PUBLIC } from './decorators.js';
import { InvalidRequestError } from '@app/common';
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
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; rawHeaders: string[] }>();
    // Node keeps the first of repeated Authorization headers and drops the rest: which one a proxy
    // or the client meant is anyone's guess, so neither is used.
    if (request.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'authorization').length > 1) {
      throw new InvalidRequestError('Send one Authorization header, not several');
    }
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
