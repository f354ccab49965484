import { Controller, Get, Header, Headers, Param, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request } from 'express';
import { AuditAccessDeniedError, AuditTrail, parseAuditSearch } from '@app/audit';
import { AppConfig } from '@app/config';
import { ResourceNotFoundError, searchsetBundle } from '@app/fhir';
import { CurrentOrganization, principalOf, type OrganizationId } from '@app/tenancy';
import { publicBaseUrl } from '../http/public-base-url.js';
import { FHIR_JSON } from '../fhir/fhir-media-types.js';
import { noteAccess } from './access-audit.js';

/**
 * The audit trail as FHIR: `GET /fhir/AuditEvent` (search) and
 * `GET /fhir/AuditEvent/<id>`, for tokens that carry AUDIT_READ_SCOPE in
 * AUDIT_SCOPE_CLAIM, and only the events of the token's organization (the
 * store's row-level security would hide the others anyway). Reading the trail
 * is itself audited. Registered before FhirController, whose `:type` would
 * otherwise take these paths.
 */
@ApiExcludeController()
@Controller('fhir/AuditEvent')
export class AuditEventController {
  private readonly readScope: string;

  constructor(
    private readonly trail: AuditTrail,
    private readonly config: AppConfig,
  ) {
    this.readScope = config.audit.readScope;
  }

  @Get()
  @Header('Content-Type', FHIR_JSON)
  async search(@CurrentOrganization() organizationId: OrganizationId, @Headers('prefer') prefer: string | undefined, @Req() req: Request): Promise<object> {
    this.requireAuditor(req);
    const query = parseAuditSearch(new URL(req.originalUrl, 'http://localhost').searchParams, /\bhandling=strict\b/.test(prefer ?? ''));
    const { events, total } = await this.trail.search(organizationId, query);
    return searchsetBundle({ resources: events as never, total }, query, `${publicBaseUrl(this.config, req)}/fhir/AuditEvent`);
  }

  @Get(':id')
  @Header('Content-Type', FHIR_JSON)
  async read(@CurrentOrganization() organizationId: OrganizationId, @Param('id') id: string, @Req() req: Request): Promise<object> {
    this.requireAuditor(req);
    noteAccess(req, { resource: `AuditEvent/${id}` });
    const event = await this.trail.find(organizationId, id);
    if (!event) throw new ResourceNotFoundError('AuditEvent', id);
    return event;
  }

  private requireAuditor(req: Request): void {
    if (!principalOf(req)?.scopes?.includes(this.readScope)) {
      throw new AuditAccessDeniedError(`Reading the audit trail needs the scope ${this.readScope} in the token's ${this.config.audit.scopeClaim} claim`);
    }
  }
}
