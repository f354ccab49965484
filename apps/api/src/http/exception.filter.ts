import { STATUS_CODES } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError, type DomainErrorKind } from '@app/common';
import { databaseUnavailable } from '@app/database';
import { AccessAudit } from '../audit/access-audit.js';
import type { ErrorResponse } from './error-response.js';
import { isFhirRequest, operationOutcome } from './operation-outcome.js';
import { noteAnsweredReason, requestIdOf } from './request-context.js';
import { clientGone, settleUnreadBody, type DiscardBound } from './request-body.js';

/**
 * How much of a refused request's unread body is read and thrown away before its connection is
 * closed instead. Clients that send a whole body before reading (python-requests, a chunked
 * generator of a 200 MB video) see the answer only if it is all read; the bound is time, with
 * a cap in bytes far above any upload of ours, so a client cannot keep one busy for ever.
 */
const DISCARD_BOUND: DiscardBound = { maxBytes: 1024 * 1024 * 1024, maxMs: 30_000 };

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  not_acceptable: 406,
  request_timeout: 408,
  conflict: 409,
  precondition_failed: 412,
  precondition_required: 428,
  range_not_satisfiable: 416,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  unavailable: 503,
  insufficient_storage: 507,
};

/** ` (<message>)` of an error's cause, for the log line. */
function causeOf(error: Error): string {
  return error.cause instanceof Error ? ` (${error.cause.message})` : '';
}

/** Set by a download before it failed; they would describe the file, not the error. */
const REPRESENTATION_HEADERS = [
  'content-type', 'content-length', 'content-disposition', 'content-range', 'accept-ranges',
  'etag', 'last-modified', 'repr-digest', 'cache-control',
];

export interface Rendered {
  status: number;
  message: string;
  code?: string;
  /** Which check failed, where `code` covers several (see DomainError.reason): for metrics and logs only. */
  reason?: string;
  headers: Record<string, string>;
  /** Problems in a FHIR resource, one issue each in the OperationOutcome. */
  issues?: Array<{ message: string; expression?: string }>;
}

/**
 * Writes an error answer on a response that has sent nothing yet: an
 * OperationOutcome under /fhir, an ErrorResponse elsewhere, with the
 * request's id. Headers a download set before it failed are dropped.
 */
export function sendError(req: Request, res: Response, rendered: Rendered, requestId: string): void {
  noteAnsweredReason(res, rendered.reason ?? rendered.code ?? (rendered.status >= 500 ? 'unexpected' : 'http_error'));
  for (const name of REPRESENTATION_HEADERS) res.removeHeader(name);
  res.status(rendered.status).set(rendered.headers);
  if (isFhirRequest(req.originalUrl)) {
    res.type('application/fhir+json').send(JSON.stringify(operationOutcome(rendered.status, rendered.message, rendered.issues)));
    return;
  }
  const body: ErrorResponse = {
    statusCode: rendered.status,
    error: STATUS_CODES[rendered.status] ?? 'Error',
    message: rendered.message,
    ...(rendered.code ? { code: rendered.code } : {}),
    requestId,
  };
  res.json(body);
}

/**
 * The one place where failures become HTTP. Domain errors map by kind, Nest's
 * HTTP exceptions keep their status, anything else is a 500 whose details
 * stay in the log (with the request id) and never reach the client.
 */
@Catch()
@Injectable()
export class GlobalExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly audit: AccessAudit) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const requestId = requestIdOf(req) ?? '-';
    if (clientGone(req)) {
      this.logger.debug(`No answer, the client has gone: ${(exception as Error)?.message}`);
      this.audit.gone(req);
      return;
    }
    // Already answered in full (the server's own answer to a broken request, see client-errors.ts):
    // what failed afterwards is that request's handler noticing it, with nothing to add or log.
    if (res.writableEnded) {
      this.logger.debug(`Already answered: ${(exception as Error)?.message}`);
      return;
    }
    const rendered = renderException(exception, this.logger);

    if (res.headersSent) {
      // Mid-stream failure: the status is gone, so cut the connection rather than send a truncated 200.
      this.logger.warn(`Response failed after headers were sent: ${(exception as Error)?.message}`);
      res.destroy();
      return;
    }
    this.audit.failure(req, rendered.status, rendered.reason ?? rendered.code);
    // A stalled client would only stall the reading of its body too.
    settleUnreadBody(req, res, DISCARD_BOUND, { close: rendered.status === 408 });
    sendError(req, res, rendered, requestId);
  }
}

/**
 * A failure as this service answers it: domain errors by kind, Nest's HTTP
 * exceptions with their status, anything else a 500 whose details go to
 * `logger` only. For the exception filter, and for each failed entry of a batch.
 */
export function renderException(thrown: unknown, logger: Logger): Rendered {
  // Nest wraps errors of Express middleware (the body parser's verify) in an HttpException.
  const exception = thrown instanceof HttpException && thrown.cause instanceof DomainError ? thrown.cause : thrown;
  if (exception instanceof DomainError) {
    const status = STATUS_BY_KIND[exception.kind];
    const headers: Record<string, string> = {};
    if (status === 401) {
      headers['WWW-Authenticate'] = exception.code === 'invalid_token' ? 'Bearer error="invalid_token"' : 'Bearer';
    }
    if (exception.retryAfterSeconds) headers['Retry-After'] = String(exception.retryAfterSeconds);
    if (exception.completeLength !== undefined) headers['Content-Range'] = `bytes */${exception.completeLength}`;
    // The cause (a host, a driver's message) is the operator's, never the client's.
    if (status >= 500) logger.warn(`${exception.code}: ${exception.message}${causeOf(exception)}`);
    const issues = (exception as { issues?: Rendered['issues'] }).issues;
    return { status, message: exception.message, code: exception.code, reason: exception.reason, headers, issues };
  }
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
    const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
    return { status: exception.getStatus(), message, headers: {} };
  }
  const unavailable = databaseUnavailable(exception);
  if (unavailable) return renderException(unavailable, logger);
  const clientError = exception as { status?: unknown; expose?: unknown; message?: string };
  if (typeof clientError?.status === 'number' && clientError.status >= 400 && clientError.status < 500 && clientError.expose === true) {
    // http-errors raised by Express middleware (body parsers): safe to show by their own flag.
    return { status: clientError.status, message: clientError.message ?? 'Bad request', headers: {} };
  }
  logger.error(`Unhandled ${(exception as Error)?.name ?? 'error'}`, (exception as Error)?.stack);
  return { status: 500, message: 'Internal server error', headers: {} };
}
