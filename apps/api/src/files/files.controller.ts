import {
  applyDecorators, Controller, Delete, Get, HttpCode, Logger, Param, Post, Query, Req, Res, UploadedFile, UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import {
  ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation,
  ApiParam, ApiProduces, ApiQuery, ApiResponse, ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { FileStorage, InvalidUploadError, representationOf } from '@app/file-storage';
import { CurrentOrganization, RequireOwnOrganization, type OrganizationId } from '@app/tenancy';
import { ErrorResponse } from '../http/error-response.js';
import { sendFile, wantsInline } from './send-file.js';
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
    const inline = wantsInline(disposition);
    const file = await this.files.find(organizationId, fileName);
    await sendFile(this.files, file, representationOf(file, inline), req, res, this.logger);
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
}
