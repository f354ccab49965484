import { Controller, Delete, Get, HttpCode, Logger, Param, Post, Query, Req, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { BINARY_CONTENT_URL, binaryOf, binaryUploadOf, binaryWithContent, FileLinks, NO_HISTORY_OR_CONDITIONS, type FhirJson } from '@app/fhir';
import { FileStorage, representationOf, type AvailableFile } from '@app/file-storage';
import { CurrentOrganization, type OrganizationId } from '@app/tenancy';
import { AccessAudit, noteAccess } from '../audit/access-audit.js';
import { sendFile, wantsInline } from '../files/send-file.js';
import { AcceptsRawBody, UploadInterceptor, uploadOf } from '../files/upload.interceptor.js';
import { publicBaseUrl } from '../http/public-base-url.js';
import { negotiateBinary } from './binary-negotiation.js';
import { FHIR_JSON } from './fhir-media-types.js';
import { SecurityContextGuard } from './security-context.guard.js';
import { sendRedirect, signedLocation } from './signed-redirect.js';

/** The Binary entry of the CapabilityStatement: what FhirBinaryController does, in FHIR's terms. */
export function binaryCapability(config: AppConfig): CapabilityStatementRestResource {
  const content = config.storage.driver === 's3' ? 'a 307 to a signed URL of the object store' : 'the bytes (Range, ETag)';
  return {
    type: 'Binary',
    documentation:
      'Every stored file of the organization is a Binary (id = the file id). Create with the bytes as the body and their own ' +
      'Content-Type (name in Content-Disposition or ?_filename=, securityContext in X-Security-Context), or a FHIR JSON Binary with ' +
      'base64 data: the upload\'s checks apply (415, 413, 422). A securityContext (Type/id of an existing resource, 422 otherwise) is ' +
      'kept, and reading the Binary then needs that resource to still exist in the organization (403 otherwise). ' +
      `Read: application/fhir+json (or _format=json) answers the resource, data inline up to ${config.fhir.binaryInlineMaxBytes} ` +
      `bytes and otherwise an extension ${BINARY_CONTENT_URL} on _data; any other Accept answers ${content}. ` +
      'Delete: 409 while resources link the file.',
    interaction: (['read', 'create', 'delete'] as const).map((code) => ({ code })),
    versioning: 'no-version',
    ...NO_HISTORY_OR_CONDITIONS,
  };
}

/** The one version of a Binary (binaryOf's meta), as HTTP headers. */
function setVersionHeaders(res: Response, file: AvailableFile): void {
  res.setHeader('ETag', 'W/"1"');
  res.setHeader('Last-Modified', file.createdAt.toUTCString());
}

/**
 * FHIR's Binary, backed by the stored files: every file of an organization is
 * the Binary whose id is the file's id, and `/files/<org>/<id>.<ext>` and
 * `/fhir/Binary/<id>` are two addresses of one file, under the same checks
 * and rules. A create is an upload (raw bytes with their Content-Type, or a
 * FHIR JSON Binary with base64 `data`), checked, scanned and stored as any;
 * a read answers the resource or the bytes as the client negotiates; a delete
 * is refused (409) while resources link the file. Registered before
 * FhirController, whose `fhir/:type` would take these paths.
 */
@ApiExcludeController()
@Controller('fhir/Binary')
export class FhirBinaryController {
  private readonly logger = new Logger('Binary');

  constructor(
    private readonly files: FileStorage,
    private readonly links: FileLinks,
    private readonly config: AppConfig,
    private readonly audit: AccessAudit,
    private readonly metrics: ServiceMetrics,
  ) {}

  @Post()
  @HttpCode(201)
  @AcceptsRawBody()
  @UseGuards(SecurityContextGuard)
  @UseInterceptors(UploadInterceptor)
  async create(@CurrentOrganization() organizationId: OrganizationId, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<FhirJson | undefined> {
    // Raw bytes were stored by the interceptor; a FHIR JSON Binary carries them as base64.
    const file = uploadOf(req) ?? (await this.files.upload(organizationId, binaryUploadOf(req.body as unknown)));
    const binary = binaryOf(file);
    noteAccess(req, { file: `${organizationId}/${file.fileName}` });
    res.setHeader('Location', `${this.fhirBase(req)}/Binary/${file.id}`);
    setVersionHeaders(res, file);
    res.setHeader('Content-Type', FHIR_JSON);
    return /\breturn=minimal\b/.test(req.header('prefer') ?? '') ? undefined : binary;
  }

  /** GET and HEAD: Express routes a HEAD to the GET route, and the answers below tell them apart. */
  @Get(':id')
  read(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('id') id: string,
    @Query('_format') format: unknown,
    @Query('disposition') disposition: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    return this.answer(organizationId, id, format, disposition, req, res);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@CurrentOrganization() organizationId: OrganizationId, @Param('id') id: string, @Req() req: Request): Promise<void> {
    const file = await this.files.findById(organizationId, id);
    noteAccess(req, { file: `${organizationId}/${file.fileName}`, resource: `Binary/${file.id}` });
    await this.links.deleteUnlinked(organizationId, file.fileName);
  }

  /**
   * The resource (FHIR JSON, the bytes inline up to FHIR_BINARY_INLINE_MAX_BYTES) or the content:
   * on the file store the bytes themselves, as a download (type, disposition, ETag, Range); on S3 a
   * 307 to a signed URL, as the attachment routes answer (ITI-68 allows it), so a 50 MB video does
   * not pass through the service.
   */
  private async answer(organizationId: OrganizationId, id: string, format: unknown, disposition: unknown, req: Request, res: Response): Promise<void> {
    const inline = wantsInline(disposition);
    const file = await this.files.findById(organizationId, id);
    noteAccess(req, { file: `${organizationId}/${file.fileName}`, resource: `Binary/${file.id}` });
    await this.links.requireReadable(organizationId, file);
    res.vary('Accept');
    const representation = negotiateBinary(format, (offered) => req.accepts(offered), file.contentType);
    if (representation === 'resource') {
      setVersionHeaders(res, file);
      res.setHeader('Cache-Control', 'private, no-store');
      // A file never changes, so its one version is still the one the client holds.
      if (req.fresh) {
        await this.audit.success(req, 304);
        res.status(304).end();
        return;
      }
      // The same body for HEAD as for GET, so that its Content-Length is the GET's.
      const body = Buffer.from(JSON.stringify(await binaryWithContent(this.files, file, this.config.fhir.binaryInlineMaxBytes, this.fhirBase(req))));
      await this.audit.success(req, 200);
      res.status(200).setHeader('Content-Type', FHIR_JSON);
      res.setHeader('Content-Length', body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (this.config.storage.driver === 's3') {
      await sendRedirect(req, res, this.audit, await signedLocation(this.files, this.config, file, req, inline));
      this.metrics.redirects.inc({ resource_type: 'Binary', target: 'signed', disposition: inline ? 'inline' : 'attachment' });
      return;
    }
    await sendFile(this.files, file, representationOf(file, inline), req, res, this.logger, (status) => this.audit.success(req, status), {
      idleTimeoutMs: this.config.downloadIdleTimeoutMs,
    });
  }

  private fhirBase(req: Request): string {
    return `${publicBaseUrl(this.config, req)}/fhir`;
  }
}
