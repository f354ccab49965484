import { AsyncLocalStorage } from 'node:async_hooks';
import { finished, PassThrough, type Readable, type Writable } from 'node:stream';
import {
  type CallHandler,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
  Logger,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import busboy from 'busboy';
import type { Request, Response } from 'express';
import { from, mergeMap, type Observable } from 'rxjs';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { parseSecurityContext } from '@app/fhir';
import { canonicalExtensionFor, FileStorage, FileTooLargeError, InvalidUploadError, UnsupportedContentError, type AvailableFile } from '@app/file-storage';
import { parse as parseContentDisposition } from 'content-disposition';
import { AuthenticationError, principalOf, type OrganizationId } from '@app/tenancy';
import { AccessAudit } from '../audit/access-audit.js';
import { answeredReason } from '../http/request-context.js';
import { ClientGoneError, UploadCapacityError, UploadStalledError } from './errors.js';

const STORED = Symbol('storedUpload');
const ACCEPTS_RAW_BODY = 'upload:acceptsRawBody';

/** On a route with the UploadInterceptor: a body that is not multipart/form-data is the file itself (FHIR's Binary create). */
export const AcceptsRawBody = () => SetMetadata(ACCEPTS_RAW_BODY, true);

/** The file the upload interceptor stored for this request, if it stored one. */
export function uploadOf(req: Request): AvailableFile | undefined {
  return (req as { [STORED]?: AvailableFile })[STORED];
}

/** The file the upload interceptor stored for this request. */
export const StoredUpload = createParamDecorator((_: unknown, ctx: ExecutionContext): AvailableFile => {
  const file = uploadOf(ctx.switchToHttp().getRequest<Request>());
  if (!file) throw new Error('StoredUpload used on a route without the UploadInterceptor');
  return file;
});

/**
 * Whether a request's body is a FHIR resource the JSON parser has read (application/fhir+json): on a
 * raw-body route it is a resource for the handler (a Binary with base64 data), not the file itself.
 */
export function isFhirResourceBody(req: Request): boolean {
  return req.is('application/fhir+json') === 'application/fhir+json';
}

/**
 * The type the client declared for the file part. busboy reports a part
 * without Content-Type as text/plain (multipart's default, RFC 7578), and that
 * is how python-requests sends `files={'file': open(path, 'rb')}`: it says
 * nothing about the file, so it counts as undeclared and the extension and
 * the content decide, as with application/octet-stream.
 */
function declaredTypeOf(info: busboy.FileInfo): string | undefined {
  return info.mimeType === 'text/plain' ? undefined : info.mimeType;
}

/**
 * A raw body's file: its Content-Type (without parameters; application/octet-stream says nothing) and a
 * name from `Content-Disposition: ...; filename=` or `?_filename=` (as FHIR clients send it), else
 * `binary` with the declared type's extension, so the name witnesses no other type than the one declared.
 */
type RawFile = { fileName: string; declaredType?: string; securityContext?: string };

function rawFileOf(req: Request): RawFile {
  // FHIR's header for a raw Binary's securityContext; SecurityContextGuard has checked that it exists.
  const context = req.header('x-security-context');
  const securityContext = context === undefined ? undefined : parseSecurityContext(context, 'X-Security-Context');
  return { ...rawNameAndType(req), ...(securityContext && { securityContext }) };
}

function rawNameAndType(req: Request): RawFile {
  const type = req.header('content-type')?.split(';')[0]!.trim().toLowerCase();
  const declaredType = type && type !== 'application/octet-stream' ? type : undefined;
  const disposition = req.header('content-disposition');
  let named: string | undefined;
  try {
    // RFC 6266 (filename* over filename, quoting, percent-encoding), as the content-disposition package reads it.
    named = disposition ? parseContentDisposition(disposition).parameters.filename : undefined;
  } catch {
    throw new InvalidUploadError('The Content-Disposition header cannot be read; send attachment; filename="<name>"');
  }
  named ??= typeof req.query._filename === 'string' ? req.query._filename : undefined;
  if (named) return { fileName: named, declaredType };
  // Without a name, the declared type's extension: a witness that agrees with the declaration by construction.
  if (!declaredType) throw new UnsupportedContentError('no_extension', "Send the file with its Content-Type (or its name in Content-Disposition: attachment; filename=\"...\")");
  const extension = canonicalExtensionFor(declaredType);
  if (!extension) throw new UnsupportedContentError('media_type_not_accepted', `Files of type ${declaredType} are not accepted`);
  return { fileName: `binary.${extension}`, declaredType };
}

/** Small form fields around the file are tolerated (and ignored); anything bigger is not an upload of ours. */
const MULTIPART_LIMITS: busboy.Limits = { files: 1, fields: 10, fieldSize: 8192, parts: 12, headerPairs: 32 };

/**
 * The one owner of an upload's request stream. It refuses what it can before
 * reading a byte (not multipart, an announced size over the limit, no free
 * slot), then parses the multipart body and hands the file part to
 * FileStorage as a stream of its own: the domain reads it, and may stop
 * reading it, but never reaches the request. When anything refuses the
 * upload, this stops feeding the parser, waits until the domain has cleaned
 * up, and lets the exception filter answer and deal with the unread rest of
 * the body. A client that sends nothing for UPLOAD_IDLE_TIMEOUT_SECONDS while
 * the service waits for its bytes, or goes away, stops the upload too, so no
 * slot is held for ever.
 */
@Injectable()
export class UploadInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Upload');
  /** Uploads in progress on this instance, multipart and raw alike; bounds memory and sockets whatever the traffic. */
  private active = 0;

  constructor(
    private readonly files: FileStorage,
    private readonly config: AppConfig,
    private readonly metrics: ServiceMetrics,
    private readonly audit: AccessAudit,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request>();
    const res = context.switchToHttp().getResponse<Response>();
    // Counted as the client saw it: the status answered (and why, for a refusal), or `aborted`.
    res.once('close', () => {
      const answered = res.writableFinished ? String(res.statusCode) : undefined;
      this.metrics.uploads.inc({ status: answered ?? 'aborted', reason: answered ? (answeredReason(res) ?? '') : 'client_gone' });
    });
    const principal = principalOf(req);
    if (!principal) throw new AuthenticationError('Authentication is required', { required: true });
    const raw = !req.is('multipart/form-data');
    const acceptsRaw = Reflect.getMetadata(ACCEPTS_RAW_BODY, context.getHandler()) === true;
    // A FHIR resource in the body is the handler's to read: no file to stream, no slot to hold.
    if (raw && acceptsRaw && isFhirResourceBody(req)) return next.handle();
    if (raw && !acceptsRaw) {
      throw new InvalidUploadError("Send the file as multipart/form-data, in the field 'file'");
    }
    const { maxBytes, maxRequestBytes, maxConcurrent } = this.config.uploads;
    // A raw body is the file alone; a multipart one has its boundaries and headers around it.
    if (Number(req.header('content-length')) > (raw ? maxBytes : maxRequestBytes)) throw new FileTooLargeError(maxBytes);
    // A raw body's name and type are refused, if at all, before a byte of it is read.
    const rawFile = raw ? rawFileOf(req) : undefined;
    // Gone while the token was being checked: no slot for it, nobody to answer.
    if (req.socket.destroyed) throw new ClientGoneError();
    if (this.active >= maxConcurrent) throw new UploadCapacityError();
    // Held until the exchange is over and the upload's own work has settled, a refused or
    // abandoned upload's cleanup included for as long as the domain waits for it
    // (CLEANUP_WAIT_MS; not at all for a store that is out).
    this.active++;
    const received = this.receive(principal.organizationId, req, res, rawFile);
    // finished() also reports a response that closed before this line.
    const answered = new Promise((resolve) => finished(res, resolve));
    void Promise.allSettled([received, answered]).then(() => this.active--);
    return from(received).pipe(
      mergeMap((file) => {
        (req as { [STORED]?: AvailableFile })[STORED] = file;
        return next.handle();
      }),
    );
  }

  /**
   * Resolves with the stored file once the whole body has been read: a multipart body found to hold
   * exactly one file, or (`raw`) a body that is the file.
   */
  private receive(organizationId: OrganizationId, req: Request, res: Response, rawFile: RawFile | undefined): Promise<AvailableFile> {
    const raw = rawFile !== undefined;
    // busboy reports the file part from the request's 'data' event, whose async context is the socket's,
    // not the request's: the upload runs in the request's, so its logs (and inRequest()) see the request.
    const inRequestContext = AsyncLocalStorage.snapshot();
    return new Promise((resolve, reject) => {
      let parser: Writable;
      try {
        // Names are UTF-8 in every current browser and curl; busboy defaults to latin1.
        parser = raw ? new PassThrough() : busboy({ headers: req.headers, defParamCharset: 'utf8', limits: MULTIPART_LIMITS });
      } catch (e) {
        reject(new InvalidUploadError(`The multipart/form-data body cannot be read: ${(e as Error).message}`));
        return;
      }
      const { idleTimeoutMs } = this.config.uploads;
      let content: PassThrough | undefined;
      let upload: Promise<AvailableFile> | undefined;
      let stored: AvailableFile | undefined;
      let parsed = false;
      let settled = false;

      // Only the client can stall its upload. While the request is paused because the store, the
      // scanner or the database has not taken what came (backpressure), or once all of it has come,
      // the wait is the service's, and their own timeouts bound it (a 503, not a 408).
      const idle = setTimeout(function stalled() {
        if (req.complete || req.isPaused()) idle.refresh();
        else fail(new UploadStalledError(idleTimeoutMs));
      }, idleTimeoutMs);
      const arrived = () => idle.refresh();
      const closed = () => {
        if (!req.complete) fail(new ClientGoneError());
      };
      const stopReading = () => {
        clearTimeout(idle);
        req.off('data', arrived);
        req.off('close', closed);
        req.unpipe(parser);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        stopReading();
        // The domain sees the failure on its stream and cleans up; the answer waits for that.
        content?.destroy(error as Error);
        void (upload ?? Promise.resolve(undefined))
          .then((file) => file && this.forget(organizationId, file), () => undefined)
          .finally(() => reject(error));
      };
      const succeedIfDone = () => {
        if (settled || !parsed || !stored) return;
        settled = true;
        stopReading();
        resolve(stored);
      };

      const store = (stream: Readable, file: RawFile) => {
        content = new PassThrough();
        stream.on('error', (e: Error) => content?.destroy(new InvalidUploadError(`The ${raw ? '' : 'multipart '}body is malformed: ${e.message}`)));
        stream.pipe(content);
        upload = this.files.upload(organizationId, { content, ...file, alongside: this.audit.recordWithUpload(req) });
        upload.then((stored_) => {
          stored = stored_;
          succeedIfDone();
        }, fail);
      };
      if (raw) {
        // The body is the file: the parser is a plain pipe, whose end is the body's.
        store(parser as PassThrough, rawFile);
        parser.on('finish', () => {
          parsed = true;
          succeedIfDone();
        });
      } else {
        const multipart = parser as busboy.Busboy;
        multipart.on('file', (field: string, part: Readable, info: busboy.FileInfo) => {
          if (field !== 'file') {
            part.resume();
            fail(new InvalidUploadError(`Unexpected file field '${field}': send the file in the multipart field 'file'`));
            return;
          }
          inRequestContext(() => store(part, { fileName: info.filename ?? '', declaredType: declaredTypeOf(info) }));
        });
        multipart.on('field', () => undefined);
        multipart.on('filesLimit', () => fail(new InvalidUploadError("Send exactly one file, in the multipart field 'file'")));
        multipart.on('fieldsLimit', () => fail(new InvalidUploadError('Too many form fields beside the file')));
        multipart.on('partsLimit', () => fail(new InvalidUploadError('Too many parts in the multipart body')));
        multipart.on('error', (e: Error) => fail(new InvalidUploadError(`The multipart body is malformed: ${e.message}`)));
        multipart.on('finish', () => {
          parsed = true;
          if (!upload) fail(new InvalidUploadError("No file: send one in the multipart field 'file'"));
          else succeedIfDone();
        });
      }
      req.on('data', arrived);
      req.once('close', closed);
      // Answered by the server itself (a body that ended early, see client-errors.ts), or the
      // connection is gone: stop, clean up, and leave the answer as it is.
      res.once('close', () => fail(new ClientGoneError()));
      req.pipe(parser);
    });
  }

  /** A file stored for a request that was refused after all (a second file after it, a broken end). */
  private async forget(organizationId: OrganizationId, file: AvailableFile): Promise<void> {
    try {
      await this.files.delete(organizationId, file.fileName);
    } catch (e) {
      // It is marked for deletion first, so the unfinished-upload sweeper removes it if this failed.
      this.logger.warn(`Could not delete ${organizationId}/${file.fileName} of a refused upload (${(e as Error).message})`);
    }
  }
}
