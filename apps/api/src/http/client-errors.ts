import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import { sendError, type Rendered } from './exception.filter.js';
import { requestIdOf } from './request-context.js';

/** The request each connection is serving, while it is. */
const inFlight = new WeakMap<Duplex, { req: Request; res: Response }>();

/** Middleware: remembers which request a connection is serving, for answerClientErrors. */
export function trackInFlight(req: Request, res: Response, next: NextFunction): void {
  inFlight.set(req.socket, { req, res });
  res.once('close', () => {
    if (inFlight.get(req.socket)?.res === res) inFlight.delete(req.socket);
  });
  next();
}

const ANSWERS: Record<string, Omit<Rendered, 'headers'>> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'The request headers are too large', code: 'headers_too_large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'The request took longer than the server allows', code: 'request_timeout' },
};
const INCOMPLETE: Omit<Rendered, 'headers'> = {
  status: 400,
  message: 'The request ended before its body did (a Content-Length larger than what was sent, or a broken chunk)',
  code: 'incomplete_body',
};
const MALFORMED: Omit<Rendered, 'headers'> = { status: 400, message: 'The request is not valid HTTP', code: 'malformed_request' };

/**
 * Node answers a request it cannot parse to its end with a bare
 * `400 Bad Request` and no body: a body cut short by a client that
 * half-closed its connection, a broken chunk, headers too large, a request
 * past the server's time limit. Such a client is not gone (it can still
 * read), so it gets the JSON answer of any other refusal, with its request's
 * id; the request's own handler then finds the answer given. A connection
 * that can no longer be written to is closed.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const current = inFlight.get(socket);
    if (!socket.writable || error.code === 'ECONNRESET' || current?.res.headersSent) {
      socket.destroy();
      return;
    }
    const answer = ANSWERS[error.code ?? ''] ?? (current ? INCOMPLETE : MALFORMED);
    const rendered: Rendered = { ...answer, headers: { Connection: 'close' } };
    if (current) {
      sendError(current.req, current.res, rendered, requestIdOf(current.req) ?? randomUUID());
      return;
    }
    // No request yet (its head did not parse): nothing but the socket to answer on.
    const requestId = randomUUID();
    const body = JSON.stringify({ statusCode: answer.status, error: STATUS_CODES[answer.status], message: answer.message, code: answer.code, requestId });
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
