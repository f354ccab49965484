import { Controller, Delete, Get, Head, HttpCode, Logger, Param, Post, Query, Req, Res, UseInterceptors } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '@app/config';
import { FileLinks } from '@app/fhir';
import { InvalidRequestError } from '@app/common';
import { FileStorage, representationOf, type AvailableFile } from '@app/file-storage';
import { CurrentOrganization, RequireOwnOrganization, type OrganizationId } from '@app/tenancy';
import { ApiErrors, DownloadDocs, FileKeyParams, HeadDocs, UploadBody } from './files-openapi.js';
import { AccessAudit } from '../audit/access-audit.js';
import { sendFile, wantsInline } from './send-file.js';
import { StoredUpload, UploadInterceptor } from './upload.interceptor.js';
import { FileListDto, FileMetadataDto, UploadedFileDto } from './uploaded-file.dto.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 100;

@ApiTags('files')
@Controller('files')
export class FilesController {
  private readonly logger = new Logger('Files');

  constructor(
    private readonly files: FileStorage,
    private readonly links: FileLinks,
    private readonly audit: AccessAudit,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'listFiles',
    summary: "The organization's files, newest first",
    description: 'A page at a time: follow `next` (or the Link header) until it is absent. Each file says which FHIR resources link it.',
  })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE } })
  @ApiQuery({ name: 'cursor', required: false, description: 'The cursor of the next page, as `next` gives it' })
  @ApiOkResponse({ type: FileListDto, description: 'A page of files', headers: { Link: { description: '<next page>; rel="next", while there is one', schema: { type: 'string' } } } })
  @ApiErrors(400, 401, 503)
  async list(
    @CurrentOrganization() organizationId: OrganizationId,
    @Query('limit') limit: unknown,
    @Query('cursor') cursor: unknown,
    @Res({ passthrough: true }) res: Response,
  ): Promise<FileListDto> {
    const size = limit === undefined ? DEFAULT_PAGE : Number(limit);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) throw new InvalidRequestError(`limit must be an integer from 1 to ${MAX_PAGE}`);
    if (cursor !== undefined && typeof cursor !== 'string') throw new InvalidRequestError('cursor must be given once');
    const page = await this.files.list(organizationId, { limit: size, cursor });
    const links = await this.links.linkedBy(organizationId, page.files.map((f) => f.fileName));
    const next = page.nextCursor && `/files?${new URLSearchParams({ limit: String(size), cursor: page.nextCursor })}`;
    if (next) res.setHeader('Link', `<${next}>; rel="next"`);
    return { files: page.files.map((f) => FileMetadataDto.of(f, links.get(f.fileName))), ...(next ? { next } : {}) };
  }

  @Post('upload')
  @HttpCode(201)
  @UseInterceptors(UploadInterceptor)
  @ApiOperation({
    operationId: 'uploadFile',
    summary: 'Upload a clinical file',
    description:
      'The content, the file-name extension and the declared MIME type must agree (415 otherwise); with scanning on, ' +
      'the file is stored only once clamd has found it clean (422 if not).',
  })
  @UploadBody()
  @ApiCreatedResponse({
    type: UploadedFileDto,
    description: 'Stored',
    headers: { Location: { description: 'Where to download it (the url of the answer)', schema: { type: 'string', format: 'uri-reference' } } },
  })
  @ApiErrors(400, 401, 408, 413, 415, 422, 503, 507)
  upload(@StoredUpload() file: AvailableFile, @Res({ passthrough: true }) res: Response): UploadedFileDto {
    const dto = UploadedFileDto.from(file);
    res.setHeader('Location', dto.url);
    return dto;
  }

  @Head(':orgId/:fileName')
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'headFile',
    summary: "A file's headers (type, size, ETag) without the bytes",
    description: 'The headers a GET answers with, Content-Length and ETag included; errors carry no body.',
  })
  @HeadDocs()
  head(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('fileName') fileName: string,
    @Query('disposition') disposition: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    return this.download(organizationId, fileName, disposition, req, res);
  }

  @Get(':orgId/:fileName')
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'downloadFile',
    summary: 'Download a file',
    description: 'Content-Disposition is attachment unless ?disposition=inline asks otherwise for a type that is safe inline. Range (one range) and If-None-Match are honoured.',
  })
  @DownloadDocs()
  async download(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('fileName') fileName: string,
    @Query('disposition') disposition: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const inline = wantsInline(disposition);
    const file = await this.files.find(organizationId, fileName);
    await this.links.requireReadable(organizationId, file);
    await sendFile(this.files, file, representationOf(file, inline), req, res, this.logger, (status) => this.audit.success(req, status), {
      idleTimeoutMs: this.config.downloadIdleTimeoutMs,
    });
  }

  @Get(':orgId/:fileName/metadata')
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'getFileMetadata',
    summary: "A file's type, size, hashes, scan result and the resources that link it",
    description: 'What the upload answered, with when it was stored and which FHIR resources link it (a DELETE answers 409 while any does).',
  })
  @FileKeyParams()
  @ApiOkResponse({ type: FileMetadataDto, description: 'The file' })
  @ApiErrors(401, 403, 404, 503)
  async metadata(@CurrentOrganization() organizationId: OrganizationId, @Param('fileName') fileName: string): Promise<FileMetadataDto> {
    const file = await this.files.find(organizationId, fileName);
    await this.links.requireReadable(organizationId, file);
    const links = await this.links.linkedBy(organizationId, [file.fileName]);
    return FileMetadataDto.of(file, links.get(file.fileName));
  }

  @Delete(':orgId/:fileName')
  @HttpCode(204)
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'deleteFile',
    summary: 'Delete a file for good',
    description:
      'Refused with 409 while FHIR resources link the file (the answer names them): delete or update those first. ' +
      'Deleting a file that was deleted within the last hour answers 204 again.',
  })
  @FileKeyParams()
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(401, 403, 404, 409, 503)
  async remove(@CurrentOrganization() organizationId: OrganizationId, @Param('fileName') fileName: string): Promise<void> {
    await this.links.deleteUnlinked(organizationId, fileName);
  }
}
