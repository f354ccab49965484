import { Writable } from 'node:stream';
import { Controller, Delete, Get, HttpCode, Logger, Param, Post, Query, Req, Res, UseInterceptors } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { compactBase64, decodeBase64, FileLinks, InvalidResourceError, NO_HISTORY_OR_CONDITIONS, type FhirJson } from '@app/fhir';
import { canonicalExtensionFor, FileStorage, representationOf, UnsupportedContentError, type AvailableFile } from '@app/file-storage';
import { CurrentOrganization, type OrganizationId } from '@app/tenancy';
import { AccessAudit, noteAccess } from '../audit/access-audit.js';
import { sendFile, wantsInline } from '../files/send-file.js';
import { AcceptsRawBody, UploadInterceptor, uploadOf } from '../files/upload.interceptor.js';
import { publicBaseUrl } from '../http/public-base-url.js';
import { negotiateBinary } from './binary-negotiation.js';
import { FHIR_JSON } from './fhir-media-types.js';

/** The elements a created Binary may carry: the server assigns id and meta, and ignores the client's. */
const BINARY_ELEMENTS = new Set(['resourceType', 'id', 'meta', 'contentType', 'data']);

/** The extension on `_data` that points at the bytes of a Binary too large to carry them inline. */
export const BINARY_CONTENT_URL = 'https://clinical-attachments.example/fhir/StructureDefinition/binary-content-url';

/** The Binary entry of the CapabilityStatement: what FhirBinaryController does, in FHIR's terms. */
export function binaryCapability(config: AppConfig): CapabilityStatementRestResource {
  const content = config.storage.driver === 's3' ? 'a 307 to a signed URL of the object store' : 'the bytes (Range, ETag)';
  return {
    type: 'Binary',
    documentation:
      'Every stored file of the organization is a Binary (id = the file id). Create with the bytes as the body and their own ' +
      'Content-Type (name in Content-Disposition or ?_filename=), or a FHIR JSON Binary with base64 data: the upload\'s checks apply ' +
      `(415, 413, 422). Read: application/fhir+json (or _format=json) answers the resource, data inline up to ${config.fhir.binaryInlineMaxBytes} ` +
      `bytes and otherwise an extension ${BINARY_CONTENT_URL} on _data; any other Accept answers ${content}. ` +
      'Delete: 409 while resources link the file.',
    interaction: (['read', 'create', 'delete'] as const).map((code) => ({ code })),
    versioning: 'no-version',
    ...NO_HISTORY_OR_CONDITIONS,
  };
}

/** A Binary's JSON as FHIR reads it: its stored file, one version for life (a file never changes). */
function binaryOf(file: AvailableFile): FhirJson {
  return {
    resourceType: 'Binary',
    id: file.id,
    meta: { versionId: '1', lastUpdated: file.createdAt.toISOString() },
    contentType: file.contentType,
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
  @UseInterceptors(UploadInterceptor)
  async create(@CurrentOrganization() organizationId: OrganizationId, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<FhirJson | undefined> {
    // Raw bytes were stored by the interceptor; a FHIR JSON Binary carries them as base64.
    const file = uploadOf(req) ?? (await this.createFromResource(organizationId, req.body as unknown));
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
      const body = Buffer.from(JSON.stringify(await this.withContent(file, req)));
      await this.audit.success(req, 200);
      res.status(200).setHeader('Content-Type', FHIR_JSON);
      res.setHeader('Content-Length', body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (this.config.storage.driver === 's3') {
      const expires = new Date(Date.now() + this.config.presignExpiresSeconds * 1000).toISOString();
      noteAccess(req, { detail: { redirect: 'signed URL', expires } });
      const location = await this.files.signedUrl(file, { method: req.method === 'HEAD' ? 'HEAD' : 'GET', inline });
      await this.audit.success(req, 307);
      // The Location is a credential for its lifetime: no cache keeps it, no Referer carries it on.
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.status(307).setHeader('Location', location);
      res.end();
      this.metrics.redirects.inc({ resource_type: 'Binary', target: 'signed', disposition: inline ? 'inline' : 'attachment' });
      return;
    }
    await sendFile(this.files, file, representationOf(file, inline), req, res, this.logger, (status) => this.audit.success(req, status), {
      idleTimeoutMs: this.config.downloadIdleTimeoutMs,
    });
  }

  /** The Binary with its bytes as base64 `data` when small enough, else an extension on `_data` that points at them. */
  private async withContent(file: AvailableFile, req: Request): Promise<FhirJson> {
    const binary = binaryOf(file);
    if (file.size > this.config.fhir.binaryInlineMaxBytes) {
      return { ...binary, _data: { extension: [{ url: BINARY_CONTENT_URL, valueUrl: `${this.fhirBase(req)}/Binary/${file.id}` }] } };
    }
    const chunks: Buffer[] = [];
    // A destination done with each chunk once called back, as writeTo asks: it copies.
    const collector = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    await this.files.writeTo(file, collector);
    return { ...binary, data: Buffer.concat(chunks).toString('base64') };
  }

  /**
   * A FHIR JSON Binary (`application/fhir+json`): its `contentType` declares the type and its `data`
   * goes through the upload's checks as any file. Other FHIR JSON is not taken as content here: send a
   * document's bytes with their own type (application/json for JSON).
   */
  private createFromResource(organizationId: OrganizationId, body: unknown): Promise<AvailableFile> {
    const resource = (body ?? {}) as Record<string, unknown>;
    if (resource.resourceType !== 'Binary') {
      throw InvalidResourceError.single(
        'A FHIR JSON body posted to /fhir/Binary must be a Binary; send other content as it is, with its own Content-Type',
        'resourceType',
      );
    }
    // Fail closed: what this service would not keep is refused, never dropped. securityContext grants
    // access in FHIR's model, and silently ignoring it would serve the bytes to whoever it meant to exclude.
    if (resource.securityContext !== undefined) {
      throw InvalidResourceError.single('Binary.securityContext is not supported: a Binary is readable by its whole organization', 'Binary.securityContext');
    }
    const unknown = Object.keys(resource).filter((key) => !BINARY_ELEMENTS.has(key));
    if (unknown.length > 0) {
      throw new InvalidResourceError(unknown.map((key) => ({ message: `Binary.${key} is not taken: a Binary is its contentType and data`, expression: `Binary.${key}` })));
    }
    const { contentType, data: given } = resource;
    if (typeof contentType !== 'string' || contentType === '') throw InvalidResourceError.single('contentType is required', 'Binary.contentType');
    if (typeof given !== 'string' || given.trim() === '') {
      throw InvalidResourceError.single('data is required: a Binary is created with its bytes (or post them raw)', 'Binary.data');
    }
    const data = compactBase64(given);
    if (data === undefined) throw InvalidResourceError.single('data is not valid base64', 'Binary.data');
    const extension = canonicalExtensionFor(contentType);
    if (!extension) throw new UnsupportedContentError('media_type_not_accepted', `Files of type ${contentType} are not accepted`);
    return this.files.upload(organizationId, { content: decodeBase64(data), fileName: `binary.${extension}`, declaredType: contentType });
  }

  private fhirBase(req: Request): string {
    return `${publicBaseUrl(this.config, req)}/fhir`;
  }
}
