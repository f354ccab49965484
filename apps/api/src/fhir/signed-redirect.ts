import type { Request, Response } from 'express';
import type { AppConfig } from '@app/config';
import type { FileStorage, ServableFile } from '@app/file-storage';
import { noteAccess, type AccessAudit } from '../audit/access-audit.js';
import { publicBaseUrl } from '../http/public-base-url.js';

/**
 * A signed URL for the file, absolute (the S3 presigner gives one; the fs
 * store a path this service serves itself), signed for HEAD when the request
 * is one, and its expiry noted for the audit record. The URL is a credential:
 * never log it.
 */
export async function signedLocation(files: FileStorage, config: AppConfig, file: ServableFile, req: Request, inline: boolean): Promise<string> {
  const url = await files.signedUrl(file, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', inline });
  const expires = new Date(Date.now() + config.presignExpiresSeconds * 1000).toISOString();
  noteAccess(req, { detail: { redirect: 'signed URL', expires } });
  return /^https?:\/\//i.test(url) ? url : `${publicBaseUrl(config, req)}${url}`;
}

/** Answers 307 to `location`, audited first; no cache keeps the Location, no Referer carries it on. */
export async function sendRedirect(req: Request, res: Response, audit: AccessAudit, location: string): Promise<void> {
  await audit.success(req, 307);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.status(307).setHeader('Location', location);
  res.end();
}
