import type { Server } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { json, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { JsonDepthLimit, ServiceMetrics } from '@app/common';
import type { AppConfig } from '@app/config';
import { answerClientErrors, trackInFlight } from './http/client-errors.js';
import { allowCrossOriginCalls } from './http/cors.js';
import { GracefulShutdown } from './http/graceful-shutdown.js';
import { continueWhenRead, deferContinue } from './http/request-body.js';
import { requestContext } from './http/request-context.js';
import { apiDocument } from './openapi/api-document.js';

/**
 * Longest a request may take, the slowest upload included. PENDING_UPLOAD_TTL_SECONDS
 * is at least twice this, so the sweeper never reclaims an upload still in flight.
 */
const REQUEST_TIMEOUT_MS = 300_000;

/** HTTP concerns shared by the real server and the e2e tests. */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  const server = app.getHttpServer() as Server;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  deferContinue(server);
  answerClientErrors(server);
  app.disable('x-powered-by');
  // Downloads set their own strong ETag (the SHA-256); JSON answers need none.
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  app.use(app.get(GracefulShutdown).track);
  app.use(requestContext(app.get(ServiceMetrics).httpDuration));
  app.use(trackInFlight);
  allowCrossOriginCalls(app, config);
  app.use(continueWhenRead);
  // FHIR resources, inline attachment data included; nothing else takes JSON bodies. The nesting is
  // bounded on the raw bytes before JSON.parse builds anything (JSON.parse makes __proto__ an own key,
  // never a prototype; the FHIR module refuses such keys).
  // (Nest's useBodyParser keeps verify for itself; its own JSON parser stays off once this one is in.)
  // On POST /fhir/Binary, plain JSON is a file's content, streamed like any upload; only FHIR's own
  // type there is a resource (a Binary with base64 data).
  // Case-insensitive and with a trailing slash, as Express routes it.
  const binaryCreate = /^\/fhir\/binary\/?(?:[?#]|$)/i;
  const parseJson = json({
    type: ['application/json', 'application/fhir+json'],
    limit: config.fhir.maxBodyBytes,
    verify: (_req, _res, body) => new JsonDepthLimit().update(body),
  });
  // Named as Nest looks for it: with a `jsonParser` in place, Nest adds no JSON parser of its own.
  app.use(function jsonParser(req: Request, res: Response, next: NextFunction) {
    if (req.method === 'POST' && binaryCreate.test(req.url) && req.is('application/fhir+json') !== 'application/fhir+json') next();
    else parseJson(req, res, next);
  });
  // TLS ends at the ingress; upgrading sub-requests would break /docs on a plain-HTTP dev host.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));

  SwaggerModule.setup('docs', app, apiDocument(app), { jsonDocumentUrl: 'openapi.json', raw: ['json'] });
}
