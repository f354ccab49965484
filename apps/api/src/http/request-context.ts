import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { HttpDuration } from '../metrics/metrics.js';
import { principalOf } from '@app/tenancy';

const REQUEST_ID = Symbol('requestId');
const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(request: object): string | undefined {
  return (request as { [REQUEST_ID]?: string })[REQUEST_ID];
}

/**
 * Gives every request a correlation id (the caller's X-Request-Id when it is
 * sane, else a new one), echoes it, and writes one access-log line per
 * request. The line carries the path without its query string, never headers
 * or bodies: query strings may hold signatures, headers hold tokens.
 */
export function requestContext(duration?: HttpDuration) {
  const logger = new Logger('HTTP');
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id');
    const id = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    (req as unknown as { [REQUEST_ID]: string })[REQUEST_ID] = id;
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The matched route's pattern, not the path: no ids in labels.
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      duration?.observe({ method: req.method, route: `${req.baseUrl}${route}`, status: String(res.statusCode) }, ms / 1000);
      const path = req.originalUrl.split('?')[0];
      const org = principalOf(req)?.organizationId ?? '-';
      const outcome = res.writableFinished ? String(res.statusCode) : `${res.statusCode} aborted`;
      logger.log(`${req.method} ${path} ${outcome} ${ms.toFixed(1)}ms org=${org} rid=${id}`);
    });
    next();
  };
}
