import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { runInRequest, type ServiceMetrics } from '@app/common';
import { principalOf } from '@app/tenancy';

const REQUEST_ID = Symbol('requestId');
const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(request: object): string | undefined {
  return (request as { [REQUEST_ID]?: string })[REQUEST_ID];
}

const ANSWERED_REASON = Symbol('answeredReason');

/** Records why a request was refused (the error's reason or code), as its error answer is written. */
export function noteAnsweredReason(res: object, reason: string): void {
  (res as { [ANSWERED_REASON]?: string })[ANSWERED_REASON] = reason;
}

/** Why the request was refused, as a label (the error's reason or code), once an error answer was written. */
export function answeredReason(res: object): string | undefined {
  return (res as { [ANSWERED_REASON]?: string })[ANSWERED_REASON];
}

/**
 * Gives every request a correlation id (the caller's X-Request-Id when it is
 * sane, else a new one), echoes it, and writes one access-log line per
 * request. The line carries the path without its query string, never headers
 * or bodies: query strings may hold signatures, headers hold tokens. A client
 * gone before the answer was complete makes it `aborted: true`, with a status
 * only if one was written.
 */
export function requestContext(duration?: ServiceMetrics['httpDuration']) {
  const logger = new Logger('HTTP');
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.header('x-request-id');
    const id = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    (req as unknown as { [REQUEST_ID]: string })[REQUEST_ID] = id;
    res.setHeader('X-Request-Id', id);
    const started = process.hrtime.bigint();
    // A client that left in the middle of its body can still be "answered" into its closed
    // connection: the socket, not the response, tells that it had gone.
    let clientLeft = false;
    res.once('finish', () => (clientLeft = req.socket.readableEnded || req.socket.destroyed));
    // The line names its request itself, so it is written outside the request's logging context
    // (bound here, before that context exists), where the same fields would appear twice.
    res.once('close', AsyncResource.bind(() => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The matched route's pattern, not the path: no ids in labels.
      const route = `${req.baseUrl}${(req.route as { path?: string } | undefined)?.path ?? 'unmatched'}`;
      duration?.observe({ method: req.method, route, status: String(res.statusCode) }, ms / 1000);
      const path = req.originalUrl.split('?')[0];
      const principal = principalOf(req);
      const status = res.headersSent ? res.statusCode : undefined;
      const aborted = !res.writableFinished || clientLeft;
      logger.log(`${req.method} ${path} ${status ?? '-'}${aborted ? ' aborted' : ''} ${ms.toFixed(1)}ms`, {
        requestId: id,
        ...(principal && { organizationId: principal.organizationId }),
        ...(principal?.subject !== undefined && { subject: principal.subject }),
        method: req.method,
        route,
        path,
        ...(status !== undefined && { status }),
        ...(answeredReason(res) !== undefined && { reason: answeredReason(res) }),
        durationMs: Math.round(ms * 10) / 10,
        ...(aborted && { aborted: true }),
      });
    }));
    runInRequest(next);
  };
}
