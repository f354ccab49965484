import {
  applyDecorators, Controller, Delete, Get, HttpCode, Logger, Param, Post, Query, Req, Res, UseInterceptors,
} from '@nestjs/common';
import {
  ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation,
  ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { FileLinks } from '@app/fhir';
import { InvalidRequestError } from '@app/common';
import { FileStorage, representationOf, type AvailableFile } from '@app/file-storage';
import { CurrentOrganization, RequireOwnOrganization, type OrganizationId } from '@app/tenancy';
import { ErrorResponse } from '../http/error-response.js';
import { sendFile, wantsInline } from './send-file.js';
import { StoredUpload, UploadInterceptor } from './upload.interceptor.js';
import { FileListDto, FileMetadataDto, UploadedFileDto } from './uploaded-file.dto.js';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 100;

const ApiErrors = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, type: ErrorResponse })));

@ApiTags('files')
@ApiBearerAuth()
@Controller('files')
export class FilesController {
  private readonly logger = new Logger('Files');

  constructor(
    private readonly files: FileStorage,
    private readonly links: FileLinks,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'listFiles',
    summary: "The organization's files, newest first",
    description: 'A page at a time: follow `next` (or the Link header) until it is absent. Each file says which FHIR resources link it.',
  })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE } })
  @ApiQuery({ name: 'cursor', required: false, description: 'The cursor of the next page, as `next` gives it' })
  @ApiOkResponse({ type: FileListDto })
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
    description: 'The content, the file-name extension and the declared MIME type must agree (415 otherwise).',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } },
  })
  @ApiCreatedResponse({ type: UploadedFileDto })
  @ApiErrors(400, 401, 408, 413, 415, 422, 503, 507)
  upload(@StoredUpload() file: AvailableFile, @Res({ passthrough: true }) res: Response): UploadedFileDto {
    const dto = UploadedFileDto.from(file);
    res.setHeader('Location', dto.url);
    return dto;
  }

  @Get(':orgId/:fileName')
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'downloadFile',
    summary: 'Download a file',
    description: 'Supports Range (206/416), If-None-Match (304) and HEAD (same headers, no body).',
  })
  @ApiParam({ name: 'orgId' })
  @ApiParam({ name: 'fileName', example: '5f0c6d2e9a8b4c7d1e2f3a4b5c6d7e8f.pdf' })
  @ApiQuery({
    name: 'disposition',
    required: false,
    enum: ['attachment', 'inline'],
    description: 'inline is honoured only for types a browser cannot run script from (not PDF)',
  })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'The bytes', schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 206, description: 'The requested byte range' })
  @ApiResponse({ status: 304, description: 'Not modified (If-None-Match)' })
  @ApiErrors(400, 401, 403, 404, 416, 503)
  async download(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('fileName') fileName: string,
    @Query('disposition') disposition: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const inline = wantsInline(disposition);
    const file = await this.files.find(organizationId, fileName);
    await sendFile(this.files, file, representationOf(file, inline), req, res, this.logger);
  }

  @Get(':orgId/:fileName/metadata')
  @RequireOwnOrganization('orgId')
  @ApiOperation({ operationId: 'getFileMetadata', summary: "A file's type, size, hashes, scan result and the resources that link it" })
  @ApiParam({ name: 'orgId' })
  @ApiParam({ name: 'fileName', example: '5f0c6d2e9a8b4c7d1e2f3a4b5c6d7e8f.pdf' })
  @ApiOkResponse({ type: FileMetadataDto })
  @ApiErrors(401, 403, 404, 503)
  async metadata(@CurrentOrganization() organizationId: OrganizationId, @Param('fileName') fileName: string): Promise<FileMetadataDto> {
    const file = await this.files.find(organizationId, fileName);
    const links = await this.links.linkedBy(organizationId, [file.fileName]);
    return FileMetadataDto.of(file, links.get(file.fileName));
  }

  @Delete(':orgId/:fileName')
  @HttpCode(204)
  @RequireOwnOrganization('orgId')
  @ApiOperation({
    operationId: 'deleteFile',
    summary: 'Delete a file for good',
    description: 'Refused with 409 while FHIR resources link the file (the answer names them): delete or update those first.',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(401, 403, 404, 409, 503)
  async remove(@CurrentOrganization() organizationId: OrganizationId, @Param('fileName') fileName: string): Promise<void> {
    await this.links.deleteUnlinked(organizationId, fileName);
  }
}
