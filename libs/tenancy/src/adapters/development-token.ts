import { SignJWT } from 'jose';
import type { AppConfig } from '@app/config';
import { loadOrCreateDevelopmentSecret } from './development-secret.js';
import { parseOrganizationId } from '../organization-id.js';

/**
 * Mints an HS256 token the running service accepts: with JWT_SECRET when set,
 * else with the development secret in DATA_DIR. Refuses in JWKS mode, where
 * only the identity provider can sign.
 */
export async function signDevelopmentToken(
  config: AppConfig,
  opts: { organizationId: string; subject?: string; scope?: string; ttlSeconds: number },
): Promise<string> {
  const { auth } = config;
  if (auth.mode === 'jwks') throw new Error('JWT_JWKS_URL is set: tokens come from the identity provider');
  if (!parseOrganizationId(opts.organizationId)) {
    throw new Error('The organization id must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$');
  }
  const secret = auth.mode === 'hs256' ? auth.secret : (await loadOrCreateDevelopmentSecret(config.dataDir)).secret;
  let jwt = new SignJWT({ [auth.orgClaim]: opts.organizationId, ...(opts.scope && { [config.audit.scopeClaim]: opts.scope }) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds);
  if (opts.subject) jwt = jwt.setSubject(opts.subject);
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
