import { Controller, Get, Logger, Param, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { reasonOf, ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { FileStorage, SIGNED_PATH_PREFIX } from '@app/file-storage';
import { Public } from '@app/tenancy';
import { AccessAudit } from '../audit/access-audit.js';
import { sendFile, type CrossOriginUse } from './send-file.js';

/**
 * Serves the signed URLs of the embedded fs store: the signature is the only
 * credential, so the route is public and an Authorization header (clients
 * following a same-origin redirect keep theirs) is ignored. Tampered with,
 * expired or for another method: 403. Clients get these URLs from a 307 and
 * never build them, so they are left out of the OpenAPI document. Pages of
 * any origin may show them, and those of FRAME_ANCESTORS frame them.
 */
@ApiExcludeController()
@Public()
@Controller(SIGNED_PATH_PREFIX.replaceAll('/', ''))
export class SignedFilesController {
  private readonly logger = new Logger('SignedFiles');

  private readonly crossOrigin: CrossOriginUse;

  constructor(
    private readonly files: FileStorage,
    private readonly metrics: ServiceMetrics,
    private readonly audit: AccessAudit,
    private readonly config: AppConfig,
  ) {
    this.crossOrigin = { frameAncestors: config.frameAncestors };
  }

  @Get(':orgId/:fileName')
  async download(
    @Param('orgId') organizationId: string,
    @Param('fileName') fileName: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    let opened;
    try {
      opened = await this.files.openSigned(organizationId, fileName, query, req.method === 'HEAD' ? 'HEAD' : 'GET');
    } catch (e) {
      this.metrics.signedUrls.inc({ outcome: 'refused', reason: reasonOf(e) });
      throw e;
    }
    this.metrics.signedUrls.inc({ outcome: 'redeemed', reason: '' });
    const { file, representation } = opened;
    res.setHeader('Referrer-Policy', 'no-referrer');
    await sendFile(this.files, file, representation, req, res, this.logger, (status) => this.audit.success(req, status), {
      idleTimeoutMs: this.config.downloadIdleTimeoutMs,
      crossOrigin: this.crossOrigin,
    });
  }
}
