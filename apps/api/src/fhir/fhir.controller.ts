import {
  Body, Controller, Delete, Get, Header, Headers, HttpCode, Param, Post, Put, Req, Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  capabilityStatement, FhirResources, IfMatchRequiredError, MalformedResourceError, searchsetBundle, type FhirJson, type WriteContext,
} from '@app/fhir';
import { AppConfig } from '@app/config';
import { CurrentOrganization, Public, type OrganizationId } from '@app/tenancy';
import { UnsupportedContentError } from '@app/file-storage';
import { publicBaseUrl } from '../http/public-base-url.js';
import { FHIR_JSON, Outcomes, TypeParam } from './fhir-openapi.js';

const SERVICE_VERSION = '0.1.0';

const ResourceBody = () =>
  ApiBody({ description: 'A FHIR R4 resource (application/fhir+json); subjectId is accepted for the patient reference', schema: { type: 'object' } });

/** `W/"3"` or `"3"` → 3; absent → undefined, or IfMatchRequiredError when the operator requires it. */
function versionFromIfMatch(ifMatch: string | undefined, required: boolean): number | undefined {
  if (ifMatch === undefined) {
    if (required) throw new IfMatchRequiredError();
    return undefined;
  }
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(ifMatch.trim());
  if (!m) throw new MalformedResourceError('If-Match must be a version ETag such as W/"3"');
  return Number(m[1]);
}

function requireFhirJson(req: Request): void {
  if (!req.is(['application/fhir+json', 'application/json'])) {
    throw new UnsupportedContentError('Send the resource as application/fhir+json (or application/json)');
  }
}

/**
 * FHIR R4 REST over the FhirResources port. Every error under /fhir is
 * rendered as an OperationOutcome by the global exception filter.
 */
@ApiTags('fhir')
@ApiBearerAuth()
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
  @ApiOperation({ operationId: 'fhirCapabilities', summary: 'CapabilityStatement: the types, interactions and search parameters served' })
  metadata(@Req() req: Request): object {
    return capabilityStatement(this.fhirBase(req), SERVICE_VERSION, this.startedAt);
  }

  @Get(':type')
  @Header('Content-Type', FHIR_JSON)
  @TypeParam()
  @ApiOperation({
    operationId: 'fhirSearch',
    summary: 'Search: a searchset Bundle',
    description: 'Parameters: _id, _lastUpdated, subject/patient (where the type has them), _count (≤ 100), _offset.',
  })
  @Outcomes(400, 401, 404, 503)
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
  @TypeParam()
  @ResourceBody()
  @ApiOperation({ operationId: 'fhirCreate', summary: 'Create a resource; 201 with Location and ETag' })
  @Outcomes(400, 401, 403, 404, 413, 415, 422, 503)
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
  @TypeParam()
  @ApiOperation({ operationId: 'fhirRead', summary: 'Read a resource' })
  @Outcomes(401, 404, 503)
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
  @TypeParam()
  @ResourceBody()
  @ApiOperation({
    operationId: 'fhirUpdate',
    summary: 'Replace a resource; If-Match W/"<version>" makes it conditional (412 when stale)',
    description:
      'Without If-Match the last write wins: send the ETag you read to be sure you replace what you saw. ' +
      'A deployment with FHIR_REQUIRE_IF_MATCH=true refuses a PUT without If-Match with 428.',
  })
  @Outcomes(400, 401, 403, 404, 412, 413, 415, 422, 428, 503)
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
  @TypeParam()
  @ApiOperation({
    operationId: 'fhirDelete',
    summary: 'Delete a resource, and the files no other resource links',
    description: 'If-Match makes it conditional (412 when stale); with FHIR_REQUIRE_IF_MATCH=true a DELETE without it is 428.',
  })
  @Outcomes(401, 404, 412, 428, 503)
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
