import type { Request } from 'express';
import type { AppConfig } from '@app/config';

/**
 * This service's absolute base URL: PUBLIC_BASE_URL when set (production
 * requires it with the fs store), else the origin the request came to, or ''
 * (links relative to the request) for an HTTP/1.0 request without Host.
 */
export function publicBaseUrl(config: AppConfig, req: Request): string {
  if (config.publicBaseUrl) return config.publicBaseUrl;
  const host = req.get('host');
  return host ? `${req.protocol}://${host}` : '';
}
