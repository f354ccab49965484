/**
 * Content types the service knows how to verify. ALLOWED_CONTENT_TYPES may
 * narrow this list but never extend it: a type we cannot inspect is refused.
 */
export const SUPPORTED_CONTENT_TYPES = [
  'application/pdf',
  'image/jpeg',
  'image/png',
  'text/plain',
  'application/json',
  'video/mp4',
] as const;

export type SupportedContentType = (typeof SUPPORTED_CONTENT_TYPES)[number];
