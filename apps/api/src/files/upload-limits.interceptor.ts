import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '@app/common';
import { AppConfig } from '@app/config';
import { catchError, type Observable, throwError } from 'rxjs';
import { FileStorage, FileTooLargeError, InvalidUploadError } from '@app/file-storage';

/** Room for the multipart boundaries and part headers around the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;

export class UploadCapacityError extends DomainError {
  readonly kind = 'unavailable';
  readonly code = 'upload_capacity';
  override readonly retryAfterSeconds = 2;
  constructor() {
    super('This instance is handling as many uploads as it can; retry shortly');
  }
}

/**
 * Wraps multer: requires multipart, bounds concurrent uploads, refuses a body
 * that announces more than the limit before reading it, and turns multer's
 * terse errors into the service's own.
 */
@Injectable()
export class UploadLimitsInterceptor implements NestInterceptor {
  /** Uploads in progress on this instance; bounds memory whatever the traffic. */
  private active = 0;
  private readonly maxConcurrent: number;

  constructor(
    private readonly files: FileStorage,
    config: AppConfig,
  ) {
    this.maxConcurrent = config.uploads.maxConcurrent;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request>();
    const res = context.switchToHttp().getResponse<Response>();
    if (!req.is('multipart/form-data')) {
      throw new InvalidUploadError("Send the file as multipart/form-data, in the field 'file'");
    }
    const announced = Number(req.header('content-length'));
    if (announced > this.files.maxUploadBytes + MULTIPART_OVERHEAD) {
      res.setHeader('Connection', 'close');
      throw new FileTooLargeError(this.files.maxUploadBytes);
    }
    if (this.active >= this.maxConcurrent) {
      res.setHeader('Connection', 'close');
      throw new UploadCapacityError();
    }
    // Held until the exchange is over, refused and aborted uploads included.
    this.active++;
    res.once('close', () => this.active--);
    return next.handle().pipe(
      catchError((e: unknown) => {
        if (e instanceof PayloadTooLargeException) return throwError(() => new FileTooLargeError(this.files.maxUploadBytes));
        if (e instanceof BadRequestException) {
          return throwError(() => new InvalidUploadError(`${e.message}: send exactly one file, in the multipart field 'file'`));
        }
        return throwError(() => e);
      }),
    );
  }
}
