import type { Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { InvalidRequestError } from '@app/common';
import { RangeNotSatisfiableError, type AvailableFile, type ByteRange, type FileStorage, type Representation } from '@app/file-storage';

/** `?disposition=` as the OpenAPI document declares it, on downloads and attachment redirects alike. */
export const DISPOSITION_QUERY = {
  name: 'disposition',
  required: false,
  description: 'inline asks for Content-Disposition: inline, honoured only for types a browser cannot run script from (not PDF)',
  schema: { type: 'string', enum: ['attachment', 'inline'], default: 'attachment' },
} as const;

/** `?disposition=`: absent or `attachment` → false, `inline` → true, anything else is a 400. */
export function wantsInline(disposition: unknown): boolean {
  if (disposition === undefined || disposition === 'attachment') return false;
  if (disposition === 'inline') return true;
  throw new InvalidRequestError("disposition must be 'attachment' or 'inline'");
}

/**
 * How pages of other origins may use a file served to them. A signed URL is a capability: any page
 * that holds one may show the file (`<img>`, `<video>`), and the listed origins may also frame it.
 */
export interface CrossOriginUse {
  /** Origins that may frame the file, besides this service's own. */
  frameAncestors: readonly string[];
}

/**
 * Answers a GET or HEAD with a stored file: conditional requests (304), one
 * byte range (206/416), and headers that keep a browser from running or
 * caching it. Used by the authenticated download and by signed URLs alike;
 * only signed URLs pass `crossOrigin`. `recordAccess` writes the audit record
 * once the answer's status is known and before anything is sent.
 */
export async function sendFile(
  files: FileStorage,
  file: AvailableFile,
  representation: Representation,
  req: Request,
  res: Response,
  logger: Logger,
  recordAccess: (status: number) => Promise<void>,
  { idleTimeoutMs, crossOrigin }: { idleTimeoutMs: number; crossOrigin?: CrossOriginUse },
): Promise<void> {
  setRepresentationHeaders(res, file, representation);
  if (crossOrigin) allowCrossOriginUse(res, crossOrigin);
  if (req.fresh) {
    await recordAccess(304);
    res.status(304).end();
    return;
  }
  const range = rangeOf(req, file);
  if (range === 'unsatisfiable') throw new RangeNotSatisfiableError(file.size);
  // Recorded before a byte or a header leaves: no access without its record.
  await recordAccess(range ? 206 : 200);
  if (range) {
    res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
  }
  res.setHeader('Content-Length', range ? range.end - range.start + 1 : file.size);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  // A client that stops reading holds the open file and the copy's buffers: cut it once the socket
  // has taken nothing for this long (the copy then stops at the close). Before the first byte the
  // wait is the store's, not the client's: its own timeouts bound it, and its failure is answered.
  res.setTimeout(idleTimeoutMs, () => {
    if (!res.headersSent) return;
    logger.warn(`Download of ${file.fileName} cut: its client took nothing for ${idleTimeoutMs / 1000} s`);
    res.destroy();
  });
  try {
    await files.writeTo(file, res, range);
  } catch (e) {
    // Nothing sent yet (the object is missing, the store is out): the exception filter answers.
    if (!res.headersSent) throw e;
    // The client went away, or the store failed mid-stream: nothing left to tell the client but the cut.
    logger.warn(`Download of ${file.fileName} interrupted: ${(e as Error).message}`);
    res.destroy();
    return;
  }
  res.end();
}

/** Even if a browser renders it, the file gets no script, no plugins and a unique origin. */
const SANDBOX_POLICY = "default-src 'none'; sandbox";

/** Type and disposition, and headers that keep a browser from sniffing or running what it renders. */
export function setContentHeaders(res: Response, representation: Representation): void {
  res.setHeader('Content-Type', representation.contentType);
  res.setHeader('Content-Disposition', representation.contentDisposition);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', SANDBOX_POLICY);
}

/**
 * Lifts helmet's same-origin defaults (Cross-Origin-Resource-Policy: same-origin, X-Frame-Options:
 * SAMEORIGIN) that keep pages of other origins from showing the file; nosniff, the sandbox and the
 * disposition stay. Framing is decided by frame-ancestors alone, so no X-Frame-Options contradicts it.
 */
function allowCrossOriginUse(res: Response, { frameAncestors }: CrossOriginUse): void {
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
  res.removeHeader('X-Frame-Options');
  res.setHeader('Content-Security-Policy', `${SANDBOX_POLICY}; frame-ancestors ${["'self'", ...frameAncestors].join(' ')}`);
}

function setRepresentationHeaders(res: Response, file: AvailableFile, representation: Representation): void {
  setContentHeaders(res, representation);
  res.setHeader('Cache-Control', 'private, no-store');
  res.setHeader('ETag', `"${file.sha256}"`);
  res.setHeader('Last-Modified', file.createdAt.toUTCString());
  res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(file.sha256, 'hex').toString('base64')}:`);
  res.setHeader('Accept-Ranges', 'bytes');
}

/** One byte range, honoured only while If-Range (if sent) still names this file. */
function rangeOf(req: Request, file: AvailableFile): ByteRange | 'unsatisfiable' | undefined {
  const header = req.headers.range;
  if (!header || isInvalidRange(header)) return undefined;
  const ifRange = req.header('if-range');
  if (ifRange && ifRange !== `"${file.sha256}"`) return undefined;
  const ranges = req.range(file.size, { combine: true });
  // Malformed, in a unit other than bytes, or several ranges: the whole file is a valid answer to all of them.
  if (ranges === undefined || ranges === -2 || (ranges !== -1 && ranges.type.toLowerCase() !== 'bytes')) return undefined;
  if (ranges === -1) return 'unsatisfiable';
  if (ranges.length !== 1) return undefined;
  return { start: ranges[0]!.start, end: ranges[0]!.end };
}

/** RFC 9110 §14.1.1: a range whose last position is before its first makes the header invalid, and an invalid Range is ignored. */
function isInvalidRange(header: string): boolean {
  return [...header.matchAll(/(\d+)\s*-\s*(\d+)/g)].some(([, first, last]) => Number(last) < Number(first));
}
