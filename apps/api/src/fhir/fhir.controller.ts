import { STATUS_CODES } from 'node:http';
import {
  Body, Controller, Delete, Get, Header, Headers, HttpCode, Logger, Param, Post, Put, Req, Res,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import {
  capabilityStatement, FhirBundles, FhirResources, patientOf, presented, searchsetBundle, versionFromIfMatch, type EntryOutcome, type FhirJson, type WriteContext,
} from '@app/fhir';
import { auditEventCapability, type AuditAction } from '@app/audit';
import { AppConfig } from '@app/config';
import { CurrentOrganization, Public, type OrganizationId } from '@app/tenancy';
import { UnsupportedContentError } from '@app/file-storage';
import { AccessAudit, recordedQuery, type EntryAudit } from '../audit/access-audit.js';
import { renderException } from '../http/exception.filter.js';
import { operationOutcome } from '../http/operation-outcome.js';
import { publicBaseUrl } from '../http/public-base-url.js';
import { SERVICE_VERSION } from '../version.js';
import { FHIR_JSON, FHIR_MEDIA_TYPES } from './fhir-media-types.js';
import { binaryCapability } from './fhir-binary.controller.js';

/** The status line a done entry answers with, as the single interaction would. */
const ENTRY_STATUS = { created: 201, updated: 200, deleted: 204, read: 200, searched: 200 } as const;

const ENTRY_ACTION: Record<keyof typeof ENTRY_STATUS, AuditAction> = {
  created: 'create',
  updated: 'update',
  deleted: 'delete',
  read: 'read',
  searched: 'search',
};

const METHOD_ACTION: Record<'GET' | 'POST' | 'PUT' | 'DELETE', AuditAction> = { GET: 'read', POST: 'create', PUT: 'update', DELETE: 'delete' };

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
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
  private readonly logger = new Logger('FhirBundles');

  constructor(
    private readonly resources: FhirResources,
    private readonly bundles: FhirBundles,
    private readonly config: AppConfig,
    private readonly audit: AccessAudit,
  ) {}

  @Get('metadata')
  @Public()
  @Header('Content-Type', FHIR_JSON)
  metadata(@Req() req: Request): object {
    const statement = capabilityStatement(this.fhirBase(req), SERVICE_VERSION, this.startedAt);
    statement.rest?.[0]?.resource?.push(binaryCapability(this.config), auditEventCapability(this.config.audit.readScope));
    return statement;
  }

  /**
   * A transaction or batch Bundle. The answer is a transaction-response or
   * batch-response: per entry its status, location (`Type/id`), version and,
   * unless Prefer: return=minimal, the resource; a batch entry that failed
   * carries its OperationOutcome. A transaction that fails answers that
   * entry's error for the whole of it, and nothing of it is kept. Each entry
   * is audited on its own, under the request's id.
   */
  @Post()
  @HttpCode(200)
  async bundle(
    @CurrentOrganization() organizationId: OrganizationId,
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<object> {
    requireFhirJson(req);
    const { kind, entries } = await this.bundles.process(organizationId, body, this.writeContext(req));
    const fhirBase = this.fhirBase(req);
    const minimal = /\breturn=minimal\b/.test(req.header('prefer') ?? '');
    const audits: EntryAudit[] = [];
    const answered = entries.map((entry) => {
      const answer = this.entryAnswer(entry, fhirBase, minimal);
      audits.push({ ...this.entryAudit(entry), status: answer.status });
      return answer.entry;
    });
    await this.audit.successEach(req, audits);
    res.setHeader('Content-Type', FHIR_JSON);
    return { resourceType: 'Bundle', type: `${kind}-response`, entry: answered };
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
    return presented(searchsetBundle(page, query, `${this.fhirBase(req)}/${type}`), this.fhirBase(req));
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

  /** A response entry: what the single interaction's answer would say, in Bundle.entry.response. */
  private entryAnswer(entry: EntryOutcome, fhirBase: string, minimal: boolean): { status: number; entry: object } {
    if ('failed' in entry) {
      const rendered = renderException(entry.failed, this.logger);
      return { status: rendered.status, entry: { response: { status: statusLine(rendered.status), outcome: operationOutcome(rendered.status, rendered.message, rendered.issues) } } };
    }
    const status = ENTRY_STATUS[entry.done];
    const { resource, location } = entry;
    const meta = entry.done === 'searched' ? undefined : resource?.meta;
    return {
      status,
      entry: {
        ...(resource && !minimal && { ...(location && { fullUrl: `${fhirBase}/${location}` }), resource: presented(resource, fhirBase) }),
        response: {
          status: statusLine(status),
          ...(location && entry.done !== 'deleted' && { location }),
          ...(meta?.versionId && { etag: `W/"${meta.versionId}"` }),
          ...(meta?.lastUpdated && { lastModified: meta.lastUpdated }),
        },
      },
    };
  }

  /** What an entry's audit record names: the interaction, the resource (or Binary's file) and its patient. */
  private entryAudit(entry: EntryOutcome): Omit<EntryAudit, 'status'> {
    if ('failed' in entry) return { action: METHOD_ACTION[entry.method], entities: entry.target ? { resource: entry.target } : {} };
    if (entry.search) return { action: 'search', entities: { query: recordedQuery(entry.search.params, entry.search.type) } };
    const patient = entry.resource ? patientOf(entry.resource) : undefined;
    return {
      action: ENTRY_ACTION[entry.done],
      entities: { ...(entry.location && { resource: entry.location }), ...(entry.file && { file: entry.file }), ...(patient && { patient }) },
    };
  }

  /** The resource with its version headers, or no body for Prefer: return=minimal. */
  private represent(resource: FhirJson, req: Request, res: Response): FhirJson | undefined {
    res.setHeader('ETag', `W/"${resource.meta?.versionId}"`);
    if (resource.meta?.lastUpdated) res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
    res.setHeader('Content-Type', FHIR_JSON);
    return /\breturn=minimal\b/.test(req.header('prefer') ?? '') ? undefined : presented(resource, this.fhirBase(req));
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
