import type { Server } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/** How much of a refused request's remaining body is read and thrown away before the connection is closed instead. */
export interface DiscardBound {
  maxBytes: number;
  maxMs: number;
}

const CONTINUE_WITHHELD = Symbol('continueWithheld');

type Tracked = Request & { [CONTINUE_WITHHELD]?: boolean };

/**
 * Whether the client is gone: its socket is closed, so no answer can reach it.
 * Decided from the socket only (`req.destroyed` is also true for a body that was
 * simply read to its end).
 */
export function clientGone(req: Request): boolean {
  return req.socket.destroyed;
}

/**
 * Lets the application, not Node, answer `Expect: 100-continue`: without this
 * Node sends `100 Continue` as soon as the headers arrive, and the client
 * starts sending a body that may be refused at once (401, 413, 503).
 */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
}

/**
 * Middleware: a request that expects `100 Continue` gets it the moment
 * something starts reading its body (a body parser, the upload), and never
 * after a final answer. A request answered without reading its body is
 * therefore answered before the client sends it.
 */
export function continueWhenRead(req: Request, res: Response, next: NextFunction): void {
  if (/^100-continue$/i.test(req.header('expect') ?? '')) {
    (req as Tracked)[CONTINUE_WITHHELD] = true;
    req.once('resume', () => {
      if (res.headersSent || res.writableEnded) return;
      (req as Tracked)[CONTINUE_WITHHELD] = false;
      res.writeContinue();
    });
  }
  next();
}

/**
 * Called just before a request is answered, whatever the answer. If its body
 * was not read to the end, the connection must not be reused until it has
 * been, and must not be closed under a client that is still sending: it
 * would see a reset (EPIPE), often before it read the answer. So:
 * - a client still waiting for `100 Continue` will not send the body: close;
 * - otherwise, once the answer is out, read and discard the rest, up to the
 *   bound in bytes and time (a body announced larger is cut there), and
 *   close only then: by that time every common client has read the answer.
 */
export function settleUnreadBody(req: Request, res: Response, bound: DiscardBound, { close = false } = {}): void {
  if (req.complete) return;
  if (close || (req as Tracked)[CONTINUE_WITHHELD]) {
    res.setHeader('Connection', 'close');
    return;
  }
  res.once('finish', () => discardRest(req, bound));
}

function discardRest(req: Request, bound: DiscardBound): void {
  if (req.complete || req.socket.destroyed) return;
  // Whoever was reading (a multipart parser, a body parser) has stopped for good.
  req.unpipe();
  let seen = 0;
  const close = () => req.socket.destroy();
  const timer = setTimeout(close, bound.maxMs);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > bound.maxBytes) close();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
