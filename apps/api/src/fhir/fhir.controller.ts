import {
  Body, Controller, Delete, Get, Header, Headers, HttpCode, Param, Post, Put, Req, Res,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  capabilityStatement, FhirResources, IfMatchRequiredError, MalformedResourceError, searchsetBundle, type FhirJson, type WriteContext,
} from '@app/fhir';
import { auditEventCapability } from '@app/audit';
import { AppConfig } from '@app/config';
import { CurrentOrganization, Public, type OrganizationId } from '@app/tenancy';
import { UnsupportedContentError } from '@app/file-storage';
import { publicBaseUrl } from '../http/public-base-url.js';
import { SERVICE_VERSION } from '../version.js';
import { FHIR_JSON, FHIR_MEDIA_TYPES } from './fhir-media-types.js';
import { binaryCapability } from './fhir-binary.controller.js';

/**
 * `W/"3"` or `"3"` → 3. Absent, or `*` ("whichever version exists", RFC 9110;
 * the resource must exist anyway) → undefined, or IfMatchRequiredError when
 * the operator requires the version read.
 */
function versionFromIfMatch(ifMatch: string | undefined, required: boolean): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') {
    if (required) throw new IfMatchRequiredError();
    return undefined;
  }
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(ifMatch.trim());
  if (!m) throw new MalformedResourceError('If-Match must be a version ETag such as W/"3"');
  return Number(m[1]);
}

function requireFhirJson(req: Request): void {
  if (!req.is([...FHIR_MEDIA_TYPES])) {
    throw new UnsupportedContentError('media_type_not_accepted', 'Send the resource as application/fhir+json (or application/json)');
  }
}

/**
 * FHIR R4 REST over the FhirResources port. Every error under /fhir is
 * rendered as an OperationOutcome by the global exception filter. The OpenAPI
 * document describes these routes per type (openapi/fhir-paths.ts).
 */
@ApiExcludeController()
@Controller('fhir')
export class FhirController {
  private readonly startedAt = new Date();

  constructor(
    private readonly resources: FhirResources,
    private readonly config: AppConfig,
  ) {}

  @Get('metadata')
  @Public()
  @Header('Content-Type', FHIR_JSON)
  metadata(@Req() req: Request): object {
    const statement = capabilityStatement(this.fhirBase(req), SERVICE_VERSION, this.startedAt);
    statement.rest?.[0]?.resource?.push(binaryCapability(this.config), auditEventCapability(this.config.audit.readScope));
    return statement;
  }

  @Get(':type')
  @Header('Content-Type', FHIR_JSON)
  async search(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Headers('prefer') prefer: string | undefined,
    @Req() req: Request,
  ): Promise<object> {
    const params = new URL(req.originalUrl, 'http://localhost').searchParams;
    const strict = /\bhandling=strict\b/.test(prefer ?? '');
    const { page, query } = await this.resources.search(organizationId, type, params, strict);
    return searchsetBundle(page, query, `${this.fhirBase(req)}/${type}`);
  }

  @Post(':type')
  @HttpCode(201)
  async create(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<object | undefined> {
    requireFhirJson(req);
    const resource = await this.resources.create(organizationId, type, body, this.writeContext(req));
    res.setHeader('Location', `${this.fhirBase(req)}/${type}/${resource.id}`);
    return this.represent(resource, req, res);
  }

  @Get(':type/:id')
  async read(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<object | undefined> {
    return this.represent(await this.resources.read(organizationId, type, id), req, res);
  }

  @Put(':type/:id')
  async update(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Param('id') id: string,
    @Headers('if-match') ifMatch: string | undefined,
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<object | undefined> {
    requireFhirJson(req);
    const resource = await this.resources.update(organizationId, type, id, body, this.expectedVersion(ifMatch), this.writeContext(req));
    return this.represent(resource, req, res);
  }

  @Delete(':type/:id')
  @HttpCode(204)
  async remove(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Param('id') id: string,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    await this.resources.delete(organizationId, type, id, this.expectedVersion(ifMatch));
  }

  /** The resource with its version headers, or no body for Prefer: return=minimal. */
  private represent(resource: FhirJson, req: Request, res: Response): FhirJson | undefined {
    res.setHeader('ETag', `W/"${resource.meta?.versionId}"`);
    if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    res.setHeader('Content-Type', FHIR_JSON);
    return /\breturn=minimal\b/.test(req.header('prefer') ?? '') ? undefined : resource;
  }

  private expectedVersion(ifMatch: string | undefined): number | undefined {
    return versionFromIfMatch(ifMatch, this.config.fhir.requireIfMatch);
  }

  private writeContext(req: Request): WriteContext {
    return { baseUrl: publicBaseUrl(this.config, req) };
  }

  private fhirBase(req: Request): string {
    return `${publicBaseUrl(this.config, req)}/fhir`;
  }
}
