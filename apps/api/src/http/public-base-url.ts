import type { Request } from 'express';
import type { AppConfig } from '@app/config';

/** This service's absolute base URL: PUBLIC_BASE_URL when set, else the origin the request came to. */
export function publicBaseUrl(config: AppConfig, req: Request): string {
  return config.publicBaseUrl ?? `${req.protocol}://${req.get('host')}`;
}
