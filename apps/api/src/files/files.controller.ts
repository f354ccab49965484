import { pipeline } from 'node:stream/promises';
import {
  applyDecorators, Controller, Delete, Get, HttpCode, Logger, Param, Post, Query, Req, Res, UploadedFile, UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import {
  ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation,
  ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiTags,
} from '@nestjs/swagger';
import { create as contentDisposition } from 'content-disposition';
import type { Request, Response } from 'express';
import { canRenderInline, FileStorage, InvalidUploadError, type AvailableFile, type ByteRange } from '@app/file-storage';
import { CurrentOrganization, RequireOwnOrganization, type OrganizationId } from '@app/tenancy';
import { ErrorResponse } from '../http/error-response.js';
import type { ReceivedFile } from './upload-storage-engine.js';
import { UploadedFileDto } from './uploaded-file.dto.js';
import { UploadLimitsInterceptor } from './upload-limits.interceptor.js';

const ApiErrors = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, type: ErrorResponse })));

@ApiTags('files')
@ApiBearerAuth()
@Controller('files')
export class FilesController {
  private readonly logger = new Logger('Files');

  constructor(private readonly files: FileStorage) {}

  @Post('upload')
  @HttpCode(201)
  @UseInterceptors(UploadLimitsInterceptor, FileInterceptor('file'))
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
  @ApiErrors(400, 401, 413, 415, 422, 503)
  upload(@UploadedFile() file: ReceivedFile | undefined, @Res({ passthrough: true }) res: Response): UploadedFileDto {
    if (!file) throw new InvalidUploadError("No file: send one in the multipart field 'file'");
    const dto = UploadedFileDto.from(file.stored);
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
  @ApiErrors(400, 401, 403, 404, 416)
  async download(
    @CurrentOrganization() organizationId: OrganizationId,
    @Param('fileName') fileName: string,
    @Query('disposition') disposition: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    if (disposition !== undefined && disposition !== 'inline' && disposition !== 'attachment') {
      throw new InvalidUploadError("disposition must be 'attachment' or 'inline'");
    }
    const file = await this.files.find(organizationId, fileName);
    this.setRepresentationHeaders(res, file, disposition === 'inline');
    if (req.fresh) {
      res.status(304).end();
      return;
    }
    const range = this.rangeOf(req, file);
    if (range === 'unsatisfiable') {
      res.status(416).setHeader('Content-Range', `bytes */${file.size}`);
      res.end();
      return;
    }
    if (range) {
      res.status(206).setHeader('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
    }
    res.setHeader('Content-Length', range ? range.end - range.start + 1 : file.size);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const content = await this.files.read(file, range);
    try {
      await pipeline(content, res);
    } catch (e) {
      // The client went away, or the store failed mid-stream: nothing left to tell the client.
      if (!res.writableFinished) this.logger.warn(`Download of ${file.fileName} interrupted: ${(e as Error).message}`);
    }
  }

  @Delete(':orgId/:fileName')
  @HttpCode(204)
  @RequireOwnOrganization('orgId')
  @ApiOperation({ operationId: 'deleteFile', summary: 'Delete a file for good' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(401, 403, 404)
  async remove(@CurrentOrganization() organizationId: OrganizationId, @Param('fileName') fileName: string): Promise<void> {
    await this.files.delete(organizationId, fileName);
  }

  private setRepresentationHeaders(res: Response, file: AvailableFile, wantsInline: boolean): void {
    const inline = wantsInline && canRenderInline(file.contentType);
    res.setHeader('Content-Type', file.contentType.startsWith('text/') ? `${file.contentType}; charset=utf-8` : file.contentType);
    res.setHeader('Content-Disposition', contentDisposition(file.originalName || file.fileName, { type: inline ? 'inline' : 'attachment' }));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // Even if a browser renders it, the file gets no script, no plugins and a unique origin.
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.setHeader('Cache-Control', 'private, no-store');
    res.setHeader('ETag', `"${file.sha256}"`);
    res.setHeader('Last-Modified', file.createdAt.toUTCString());
    res.setHeader('Repr-Digest', `sha-256=:${Buffer.from(file.sha256, 'hex').toString('base64')}:`);
    res.setHeader('Accept-Ranges', 'bytes');
  }

  /** One byte range, honoured only while If-Range (if sent) still names this file. */
  private rangeOf(req: Request, file: AvailableFile): ByteRange | 'unsatisfiable' | undefined {
    if (!req.headers.range) return undefined;
    const ifRange = req.header('if-range');
    if (ifRange && ifRange !== `"${file.sha256}"`) return undefined;
    const ranges = req.range(file.size, { combine: true });
    if (ranges === -1) return 'unsatisfiable';
    // Malformed, or several ranges: answering with the whole file is allowed and simpler for clients.
    if (ranges === undefined || ranges === -2 || ranges.length !== 1) return undefined;
    return { start: ranges[0]!.start, end: ranges[0]!.end };
  }
}
