import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '@app/config';

/**
 * Leaving a load balancer without failing a request. On SIGTERM the
 * instance at once reports itself not ready, so the load balancer (a
 * Kubernetes Service, an Ingress, haproxy) stops sending it new requests,
 * which takes it a few seconds to notice; meanwhile it keeps serving
 * everything that still arrives (SHUTDOWN_DRAIN_SECONDS). Then it stops
 * accepting connections, lets the requests in flight finish, uploads
 * included (at most SHUTDOWN_TIMEOUT_SECONDS), and only then closes.
 */
@Injectable()
export class GracefulShutdown {
  private readonly logger = new Logger('Shutdown');
  private inFlight = 0;
  private settled?: () => void;
  /** True from SIGTERM on: readiness answers 503. */
  draining = false;

  constructor(private readonly config: AppConfig) {}

  /** Middleware: counts requests until their answer is done, or their client gone. */
  readonly track = (req: Request, res: Response, next: NextFunction): void => {
    this.inFlight++;
    // From SIGTERM on no connection is kept alive: a proxy must not hold on to one to this instance,
    // and one that outlived its request would hold the shutdown up until its keep-alive expires.
    if (this.draining) res.setHeader('Connection', 'close');
    res.once('close', () => {
      if (--this.inFlight === 0) this.settled?.();
    });
    next();
  };

  /** Drains and closes `server`; resolves once nothing is in flight any more (or the time is up). */
  async drain(server: Server): Promise<void> {
    const { drainMs, timeoutMs } = this.config.shutdown;
    this.draining = true;
    this.logger.log(`Draining: not ready any more, still serving for ${drainMs} ms`);
    const started = Date.now();
    await sleep(drainMs);
    server.close();
    server.closeIdleConnections();
    if (this.inFlight > 0) {
      this.logger.log(`No new connections; waiting for ${this.inFlight} request(s) in flight`);
      const done = new Promise<void>((resolve) => (this.settled = resolve));
      const timedOut = await Promise.race([done.then(() => false), sleep(timeoutMs).then(() => true)]);
      if (timedOut) this.logger.warn(`${this.inFlight} request(s) still in flight after ${timeoutMs} ms: closing their connections`);
    }
    server.closeAllConnections();
    this.logger.log(`Drained in ${Date.now() - started} ms`);
  }
}
