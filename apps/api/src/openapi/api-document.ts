import type { INestApplication } from '@nestjs/common';
import { ApiExtension, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { ErrorResponse } from '../http/error-response.js';
import { SERVICE_VERSION } from '../version.js';
import { fhirPaths } from './fhir-paths.js';
import { fhirSchemas } from './fhir-schemas.js';

const PUBLIC = 'x-public';

/** OpenAPI 3.1 names a license by SPDX identifier (Nest's types know only 3.0's url). */
const LICENSE: { name: string; identifier: string } = { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' };

/** In the document, the routes of a controller need no token (as @Public() makes them need none). */
export const ApiPublic = () => ApiExtension(PUBLIC, true);

const DESCRIPTION = [
  'Stores clinical files per organization and serves them to FHIR clients.',
  '',
  'Every operation but the health probes and `/fhir/metadata` takes a bearer JWT naming the organization; each organization sees only its own files and resources.',
  'Errors are JSON: an `ErrorResponse` on `/files`, an `OperationOutcome` under `/fhir`. Every answer has an `X-Request-Id`.',
].join('\n');

/**
 * The OpenAPI 3.1 document: the Nest-scanned routes (files, whoami, health)
 * and the FHIR routes generated per served type. It depends on nothing but the
 * code, so the copy in the repository (openapi.json) can be checked against it.
 */
export function apiDocument(app: INestApplication): OpenAPIObject {
  const base = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Clinical attachment file service')
    .setDescription(DESCRIPTION)
    .setVersion(SERVICE_VERSION)
    .addServer('/', 'The service that serves this document')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT whose org_id claim (or the configured claim) names the organization' }, 'bearer')
    .addSecurityRequirements('bearer')
    .addTag('files', 'Upload, download and delete clinical files')
    .addTag('fhir', 'FHIR R4 resources that link the files, and their attachments as signed redirects')
    .addTag('auth', 'Checking a token')
    .addTag('health', 'Probes for Kubernetes and load balancers')
    .build();
  const document = SwaggerModule.createDocument(app, base, { extraModels: [ErrorResponse] });
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as Array<Record<string, unknown>>) {
      if (operation && typeof operation === 'object' && PUBLIC in operation) {
        delete operation[PUBLIC];
        operation.security = [];
      }
    }
  }
  const fhir = fhirPaths();
  const components = document.components!;
  return {
    ...document,
    info: { ...document.info, license: LICENSE },
    paths: { ...document.paths, ...fhir.paths } as OpenAPIObject['paths'],
    components: {
      ...components,
      schemas: { ...components.schemas, ...fhirSchemas() },
      ...(fhir.components as OpenAPIObject['components']),
    },
  };
}
