import type { NestExpressApplication } from '@nestjs/platform-express';
import cors from 'cors';
import type { NextFunction, Request, Response } from 'express';
import type { AppConfig } from '@app/config';
import { SIGNED_PATH_PREFIX } from '@app/file-storage';

/**
 * What front ends on other origins call: the API, and the embedded store's signed URLs that its
 * 307s lead to (a fetch that follows the redirect asks again there, with a preflight of its own).
 */
const CORS_PATHS = ['/files', '/fhir', '/whoami', SIGNED_PATH_PREFIX.replace(/\/$/, '')];

/**
 * CORS for the origins in CORS_ALLOWED_ORIGINS, by the `cors` package (the one behind Nest's
 * enableCors), given a path list here because the probes, /metrics and /docs are not for browsers.
 * An origin not listed gets no CORS header at all, its preflight included (the `cors` package
 * would still answer that with the allowed methods): the origin callback's `false` skips it.
 * Never Access-Control-Allow-Credentials: the API takes bearer tokens, not cookies.
 */
export function allowCrossOriginCalls(app: NestExpressApplication, config: AppConfig): void {
  const allowed = new Set(config.cors.allowedOrigins);
  if (allowed.size === 0) return;
  const handle = cors({
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    // X-Request-Id: a front end may bring its own correlation id; the download takes conditional and range requests.
    allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match', 'Prefer', 'Range', 'X-Request-Id'],
    exposedHeaders: ['Location', 'ETag', 'X-Request-Id', 'Content-Disposition', 'Content-Length', 'Retry-After'],
    maxAge: 600,
  });
  app.use(CORS_PATHS, (req: Request, res: Response, next: NextFunction) => {
    // Whether an answer carries Access-Control-Allow-Origin depends on Origin, for every origin.
    res.vary('Origin');
    handle(req, res, next);
  });
}
