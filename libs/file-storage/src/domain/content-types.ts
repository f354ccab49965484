import type { SupportedContentType } from '@app/config';

/** How the bytes of a type are recognised. */
export type Recognition =
  /** Signature bytes at the start, found by `file-type`. */
  | 'magic'
  /** No signature: valid UTF-8 without NUL bytes. */
  | 'text'
  /** No signature: UTF-8 text that parses as JSON. */
  | 'json';

export interface ContentTypeRule {
  contentType: SupportedContentType;
  /** The extension used in storage keys. */
  canonicalExtension: string;
  /** File-name extensions accepted for this type (lower case). */
  extensions: readonly string[];
  /** Non-standard MIME names clients send for this type. */
  aliases: readonly string[];
  recognition: Recognition;
  /** May be served with `Content-Disposition: inline`: browsers cannot run script from it. */
  inlineSafe: boolean;
}

/** Every type the service can store; ALLOWED_CONTENT_TYPES narrows it per deployment. */
export const CONTENT_TYPE_RULES: readonly ContentTypeRule[] = [
  { contentType: 'application/pdf', canonicalExtension: 'pdf', extensions: ['pdf'], aliases: ['application/x-pdf'], recognition: 'magic', inlineSafe: false },
  { contentType: 'image/jpeg', canonicalExtension: 'jpg', extensions: ['jpg', 'jpeg', 'jpe'], aliases: ['image/jpg', 'image/pjpeg'], recognition: 'magic', inlineSafe: true },
  { contentType: 'image/png', canonicalExtension: 'png', extensions: ['png'], aliases: ['image/x-png'], recognition: 'magic', inlineSafe: true },
  { contentType: 'text/plain', canonicalExtension: 'txt', extensions: ['txt', 'text'], aliases: [], recognition: 'text', inlineSafe: true },
  { contentType: 'application/json', canonicalExtension: 'json', extensions: ['json'], aliases: ['text/json'], recognition: 'json', inlineSafe: true },
  { contentType: 'video/mp4', canonicalExtension: 'mp4', extensions: ['mp4', 'm4v'], aliases: [], recognition: 'magic', inlineSafe: true },
];

export function ruleForExtension(extension: string): ContentTypeRule | undefined {
  return CONTENT_TYPE_RULES.find((r) => r.extensions.includes(extension));
}

export function ruleForMimeType(mime: string): ContentTypeRule | undefined {
  return CONTENT_TYPE_RULES.find((r) => r.contentType === mime || r.aliases.includes(mime));
}

/** Whether a stored type may be served inline; unknown types never are. */
export function canRenderInline(contentType: string): boolean {
  return CONTENT_TYPE_RULES.find((r) => r.contentType === contentType)?.inlineSafe ?? false;
}

/** The extension files of this type are stored with, or undefined for a type not accepted. */
export function canonicalExtensionFor(mime: string): string | undefined {
  return ruleForMimeType(mime.split(';')[0]!.trim().toLowerCase())?.canonicalExtension;
}
