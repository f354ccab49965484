import { createRemoteJWKSet, errors, jwtVerify, type CryptoKey, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { AccessTokenVerifier, type Principal } from '../access-token-verifier.port.js';
import { AuthenticationError, IdentityProviderUnavailableError } from '../errors.js';
import { parseOrganizationId } from '../organization-id.js';

export interface JoseVerifierOptions {
  key: { secret: string } | { jwksUrl: string };
  issuer?: string;
  audience?: string;
  orgClaim: string;
  /** The claim holding scopes: a space-separated string (OAuth) or an array. */
  scopeClaim?: string;
}

/** Tolerated clock skew between the identity provider and this service. */
const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies JWTs with `jose`. Algorithms are pinned per key type, so `alg: none`
 * and HS/RS confusion are refused by the library, and `exp` is mandatory.
 */
export class JoseTokenVerifier extends AccessTokenVerifier {
  private readonly options: JWTVerifyOptions;

  /**
   * A shared secret becomes a CryptoKey here, once: given the bytes, jose imports them again for
   * every token (about 40 µs of a 100 µs check). A key set's keys are imported once by jose itself.
   * A secret that cannot be a key fails here, at start-up, not as a 401 on every request.
   */
  static async create(config: JoseVerifierOptions): Promise<JoseTokenVerifier> {
    if (!('secret' in config.key)) {
      return new JoseTokenVerifier(config, createRemoteJWKSet(new URL(config.key.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 }));
    }
    const secret = new TextEncoder().encode(config.key.secret);
    if (secret.length === 0) throw new Error('The HS256 secret is empty');
    return new JoseTokenVerifier(config, await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']));
  }

  private constructor(
    private readonly config: JoseVerifierOptions,
    private readonly key: CryptoKey | JWTVerifyGetKey,
  ) {
    super();
    const hmac = 'secret' in config.key;
    this.options = {
      algorithms: hmac ? ['HS256'] : ['RS256', 'ES256'],
      issuer: config.issuer,
      audience: config.audience,
      requiredClaims: ['exp'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    };
  }

  async verify(token: string): Promise<Principal> {
    let payload;
    try {
      // One call per overload of jwtVerify: a key, or a key set's lookup.
      ({ payload } = typeof this.key === 'function' ? await jwtVerify(token, this.key, this.options) : await jwtVerify(token, this.key, this.options));
    } catch (e) {
      if (isKeySetUnreachable(e)) {
        throw new IdentityProviderUnavailableError('The identity provider keys could not be fetched', { cause: e });
      }
      throw new AuthenticationError(describeJoseError(e), { cause: e });
    }
    const organizationId = parseOrganizationId(payload[this.config.orgClaim]);
    if (!organizationId) {
      throw new AuthenticationError(`The token carries no valid organization in claim "${this.config.orgClaim}"`);
    }
    const client = payload.azp ?? payload.client_id;
    const scopes = scopesOf(this.config.scopeClaim ? payload[this.config.scopeClaim] : undefined);
    return {
      organizationId,
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      ...(typeof client === 'string' && { clientId: client }),
      ...(scopes.length > 0 && { scopes }),
    };
  }
}

function scopesOf(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(' ').filter((s) => s.length > 0);
  return Array.isArray(claim) ? claim.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * The key set could not be fetched (network error, timeout, non-200 or junk
 * answer): the token may be fine, so this is not a 401. Matched by name and
 * code rather than instanceof, which fails for errors from another realm.
 */
function isKeySetUnreachable(e: unknown): boolean {
  const { name, code } = (e ?? {}) as { name?: string; code?: string };
  return name === 'TypeError' || code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JOSE_GENERIC';
}

function describeJoseError(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'The token has expired';
  if (e instanceof errors.JWTClaimValidationFailed) return `The token's "${e.claim}" claim is not acceptable`;
  if (e instanceof errors.JOSEAlgNotAllowed) return 'The token is signed with an algorithm this service does not accept';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (e instanceof errors.JWKSNoMatchingKey) return 'The token is signed by an unknown key';
  return 'The token is malformed';
}
