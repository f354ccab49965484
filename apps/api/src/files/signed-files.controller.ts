import { Controller, Get, Logger, Param, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { FileStorage, SIGNED_PATH_PREFIX } from '@app/file-storage';
import { Public } from '@app/tenancy';
import { sendFile } from './send-file.js';

/**
 * Serves the signed URLs of the embedded fs store: the signature is the only
 * credential, so the route is public and an Authorization header (clients
 * following a same-origin redirect keep theirs) is ignored. Tampered with,
 * expired or for another method: 403. Clients get these URLs from a 307 and
 * never build them, so they are left out of the OpenAPI document.
 */
@ApiExcludeController()
@Public()
@Controller(SIGNED_PATH_PREFIX.replaceAll('/', ''))
export class SignedFilesController {
  private readonly logger = new Logger('SignedFiles');

  constructor(private readonly files: FileStorage) {}

  @Get(':orgId/:fileName')
  async download(
    @Param('orgId') organizationId: string,
    @Param('fileName') fileName: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const { file, representation } = await this.files.openSigned(organizationId, fileName, query, req.method === 'HEAD' ? 'HEAD' : 'GET');
    res.setHeader('Referrer-Policy', 'no-referrer');
    await sendFile(this.files, file, representation, req, res, this.logger);
  }
}
