/** Where the application serves the fs store's signed URLs: outside /files and /fhir. */
export const SIGNED_PATH_PREFIX = '/signed-files/';

/** Query parameters that make a URL a short-lived credential: AWS SigV4 pre-signing, and the fs store's own. */
const SIGNATURE_PARAMS = ['x-amz-signature', 'x-amz-credential'];

/**
 * Whether a URL is a signed, expiring one: a path of this service's signed
 * URLs (under any origin or base path), an S3 pre-signed URL, or one with
 * the fs store's `signature` and `expires`. Such a URL is a credential that
 * stops working, so it must never be stored as a link.
 */
export function isSignedUrl(url: string): boolean {
  if (!URL.canParse(url, 'http://relative.invalid')) return false;
  const parsed = new URL(url, 'http://relative.invalid');
  const params = [...parsed.searchParams.keys()].map((k) => k.toLowerCase());
  return (
    parsed.pathname.includes(SIGNED_PATH_PREFIX) ||
    SIGNATURE_PARAMS.some((p) => params.includes(p)) ||
    (params.includes('signature') && params.includes('expires'))
  );
}
