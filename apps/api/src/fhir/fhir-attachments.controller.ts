import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { AttachmentNotFoundError, FhirResources, type AttachmentContent } from '@app/fhir';
import { FileStorage, representationOf, representationOfUnchecked } from '@app/file-storage';
import { CurrentOrganization, type OrganizationId } from '@app/tenancy';
import { AccessAudit, noteAccess } from '../audit/access-audit.js';
import { setContentHeaders, wantsInline } from '../files/send-file.js';
import { sendRedirect, signedLocation } from './signed-redirect.js';

/** A zero-based index into a repeating attachment field, as the path takes it. */
export const ATTACHMENT_INDEX = { pattern: /^(?:0|[1-9]\d{0,8})$/, max: 999_999_999 };

/**
 * `/fhir/<Type>/<id>/files/<field>[/<index>]`: one attachment of a resource,
 * answered with a redirect to a short-lived signed URL, so browsers, download
 * tools and frontends fetch the bytes without holding the bearer token.
 * The OpenAPI document describes these routes per type (openapi/fhir-paths.ts).
 */
@ApiExcludeController()
@Controller('fhir')
export class FhirAttachmentsController {
  constructor(
    private readonly resources: FhirResources,
    private readonly files: FileStorage,
    private readonly config: AppConfig,
    private readonly metrics: ServiceMetrics,
    private readonly audit: AccessAudit,
  ) {}

  @Get(':type/:id/files/:field')
  first(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('field') field: string,
    @Query('disposition') disposition: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    return this.answer(organizationId, type, id, field, 0, disposition, req, res);
  }

  @Get(':type/:id/files/:field/:index')
  at(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('type') type: string,
    @Param('id') id: string,
    @Param('field') field: string,
    @Param('index') index: string,
    @Query('disposition') disposition: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    if (!ATTACHMENT_INDEX.pattern.test(index)) throw new AttachmentNotFoundError(`'${index}' is not an attachment index; use 0, 1, ...`);
    return this.answer(organizationId, type, id, field, Number(index), disposition, req, res);
  }

  private async answer(
    organizationId: OrganizationId,
    type: string,
    id: string,
    field: string,
    index: number,
    disposition: unknown,
    req: Request,
    res: Response,
  ): Promise<void> {
    const inline = wantsInline(disposition);
    const content = await this.resources.attachment(organizationId, type, id, field, index);
    // The disposition served, not the one asked for (a PDF is always an attachment).
    const served =
      content.kind === 'file'
        ? representationOf(content.file, inline)
        : content.kind === 'data'
          ? representationOfUnchecked(content.contentType, content.title, inline)
          : undefined;
    noteAccess(req, {
      ...(content.patient && { patient: content.patient }),
      ...(content.kind === 'file' && { file: `${organizationId}/${content.file.fileName}` }),
      detail: { disposition: served ? served.contentDisposition.split(';')[0]! : inline ? 'inline' : 'attachment' },
    });
    // The Location is a credential for its lifetime: no cache keeps it, no Referer carries it on.
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (content.kind === 'data') {
      await this.audit.success(req, 200);
      this.sendData(content, inline, req, res);
      return;
    }
    const location =
      content.kind === 'external' ? new URL(content.url).href : await signedLocation(this.files, this.config, content.file, req, inline);
    await sendRedirect(req, res, this.audit, location);
    this.metrics.redirects.inc({
      resource_type: type,
      target: content.kind === 'external' ? 'external' : 'signed',
      disposition: inline ? 'inline' : 'attachment',
    });
  }

  /** Inline data was never checked like an upload: see representationOfUnchecked. */
  private sendData(content: Extract<AttachmentContent, { kind: 'data' }>, inline: boolean, req: Request, res: Response): void {
    res.status(200);
    setContentHeaders(res, representationOfUnchecked(content.contentType, content.title, inline));
    res.setHeader('Content-Length', content.bytes.length);
    res.end(req.method === 'HEAD' ? undefined : content.bytes);
  }
}
