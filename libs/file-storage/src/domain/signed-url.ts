/** Where the application serves the fs store's signed URLs: outside /files and /fhir. */
export const SIGNED_PATH_PREFIX = '/signed-files/';

/** Query parameters that make a URL a short-lived credential: AWS SigV4 pre-signing. */
const SIGV4_PARAMS = ['x-amz-signature=', 'x-amz-credential='];

/**
 * Whether a text holds a signed, expiring URL anywhere in it: a path of this
 * service's signed URLs (under any origin or base path), an S3 pre-signed
 * URL, or one with a `signature` and an `expires` parameter, in any case and
 * whether the text is the URL itself or a note that quotes it. Such a URL is
 * a credential that stops working, so it must never be stored in a resource.
 */
export function containsSignedUrl(text: string): boolean {
  const lower = text.toLowerCase();
  return (
    lower.includes(SIGNED_PATH_PREFIX) ||
    SIGV4_PARAMS.some((p) => lower.includes(p)) ||
    (/[?&]signature=/.test(lower) && /[?&]expires=/.test(lower))
  );
}
