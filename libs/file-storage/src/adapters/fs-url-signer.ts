import { createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError } from '@app/common';
import { assertStorageKey } from '../domain/stored-file.js';
import { SIGNED_PATH_PREFIX } from '../domain/signed-url.js';
import type { PresignOptions, SignedResponse } from '../ports/object-store.port.js';

export class InvalidSignedUrlError extends DomainError {
  readonly kind = 'forbidden';
  readonly code = 'invalid_signed_url';
  constructor(
    override readonly reason: 'malformed' | 'bad_signature' | 'expired' | 'wrong_method',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Signed URLs for the fs store: HMAC-SHA256 over method, key, expiry,
 * content type and disposition, so changing any of them breaks the signature.
 */
export class FsUrlSigner {
  constructor(private readonly secret: string) {}

  sign(key: string, options: PresignOptions, now = Date.now()): string {
    assertStorageKey(key);
    const expires = Math.floor(now / 1000) + options.expiresInSeconds;
    const params = new URLSearchParams({
      method: options.method,
      expires: String(expires),
      type: options.contentType,
      disposition: options.contentDisposition,
    });
    params.set('signature', this.mac(options.method, key, expires, options.contentType, options.contentDisposition));
    return `${SIGNED_PATH_PREFIX}${key}?${params}`;
  }

  /** The signed facts, if the URL is intact, unexpired and allows `method`; else InvalidSignedUrlError. */
  verify(key: string, query: Record<string, unknown>, method: 'GET' | 'HEAD', now = Date.now()): SignedResponse {
    const [signedMethod, expires, type, disposition, signature] = ['method', 'expires', 'type', 'disposition', 'signature'].map(
      (name) => (typeof query[name] === 'string' ? (query[name] as string) : undefined),
    );
    if (!signedMethod || !expires || !type || !disposition || !signature || !/^\d{1,12}$/.test(expires) || !['GET', 'HEAD'].includes(signedMethod)) {
      throw new InvalidSignedUrlError('malformed', 'The signed URL is incomplete');
    }
    try {
      assertStorageKey(key);
    } catch {
      throw new InvalidSignedUrlError('malformed', 'The signed URL is invalid');
    }
    const expected = Buffer.from(this.mac(signedMethod, key, Number(expires), type, disposition));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidSignedUrlError('bad_signature', 'The signed URL is invalid');
    }
    if (Number(expires) * 1000 < now) throw new InvalidSignedUrlError('expired', 'The signed URL has expired');
    // A URL signed for GET may also be used for HEAD (it reveals less), not the other way round.
    if (signedMethod !== method && !(signedMethod === 'GET' && method === 'HEAD')) {
      throw new InvalidSignedUrlError('wrong_method', `The signed URL is not valid for ${method}`);
    }
    return { contentType: type, contentDisposition: disposition };
  }

  private mac(method: string, key: string, expires: number, type: string, disposition: string): string {
    // JSON keeps the fields apart whatever they contain (no delimiter to smuggle).
    return createHmac('sha256', this.secret).update(JSON.stringify([method, key, expires, type, disposition])).digest('base64url');
  }
}
