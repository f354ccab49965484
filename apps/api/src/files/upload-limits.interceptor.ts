import {
  BadRequestException,
  type CallHandler,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { Request } from 'express';
import { catchError, type Observable, throwError } from 'rxjs';
import { FileStorage, FileTooLargeError, InvalidUploadError } from '@app/file-storage';

/** Room for the multipart boundaries and part headers around the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;

/**
 * Wraps multer: refuses a body that announces more than the limit before
 * reading it, requires multipart, and turns multer's terse errors into the
 * service's own.
 */
@Injectable()
export class UploadLimitsInterceptor implements NestInterceptor {
  constructor(private readonly files: FileStorage) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.is('multipart/form-data')) {
      throw new InvalidUploadError("Send the file as multipart/form-data, in the field 'file'");
    }
    const announced = Number(req.header('content-length'));
    if (announced > this.files.maxUploadBytes + MULTIPART_OVERHEAD) {
      context.switchToHttp().getResponse().setHeader('Connection', 'close');
      throw new FileTooLargeError(this.files.maxUploadBytes);
    }
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
