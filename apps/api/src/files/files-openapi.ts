import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiParam, ApiQuery, ApiResponse } from '@nestjs/swagger';
import { CONTENT_TYPE_RULES, FILE_NAME } from '@app/file-storage';
import { ORGANIZATION_ID } from '@app/tenancy';
import { ErrorResponse } from '../http/error-response.js';
import { DISPOSITION_QUERY } from './send-file.js';

/** Why each error status happens on /files; every one carries an ErrorResponse. */
const ERRORS: Record<number, string> = {
  400: 'Malformed request (the message says what)',
  401: 'No bearer token, or one that is not valid',
  403: 'The file belongs to another organization, or is a Binary whose securityContext resource no longer exists',
  404: 'No such file in the organization',
  408: 'The upload stalled: no bytes for UPLOAD_IDLE_TIMEOUT_SECONDS',
  409: 'FHIR resources still link the file (the message names them)',
  413: 'The file is larger than the limit (50 MB by default)',
  415: 'The content, the file-name extension and the declared type disagree, or the type is not accepted',
  416: 'The range starts past the end of the file (Content-Range gives its size)',
  422: 'The antivirus scan found malware',
  503: 'A dependency (database, object store, scanner) is unavailable; retry after Retry-After',
  507: 'The file store is full',
};

const extensions = CONTENT_TYPE_RULES.map((r) => `${r.contentType}: ${r.extensions.map((e) => `.${e}`).join(', ')}`).join('; ');

/** The types a stored file can have: what a download answers with. */
const binaryContent = Object.fromEntries(CONTENT_TYPE_RULES.map((r) => [r.contentType, { schema: { type: 'string', format: 'binary' } }]));

export const ApiErrors = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERRORS[status], type: ErrorResponse })));

/** HEAD answers carry no body, errors included. */
const BodilessErrors = (...statuses: number[]) =>
  applyDecorators(...statuses.map((status) => ApiResponse({ status, description: ERRORS[status] })));

/** `/files/{orgId}/{fileName}`: the key of a file, as the upload answered it. */
export const FileKeyParams = () =>
  applyDecorators(
    ApiParam({
      name: 'orgId',
      description: "The organization: the first part of the upload's key; only the token's own is served",
      schema: { type: 'string', pattern: ORGANIZATION_ID.source },
    }),
    ApiParam({
      name: 'fileName',
      description: "`<fileId>.<ext>`: the second part of the upload's key",
      schema: { type: 'string', pattern: FILE_NAME.source },
      example: '5f0c6d2e9a8b4c7d1e2f3a4b5c6d7e8f.pdf',
    }),
  );

export const UploadBody = () =>
  applyDecorators(
    ApiConsumes('multipart/form-data'),
    ApiBody({
      schema: {
        type: 'object',
        required: ['file'],
        properties: {
          file: {
            type: 'string',
            format: 'binary',
            description: `The file, with a file name whose extension belongs to its type (${extensions}).`,
          },
        },
      },
      encoding: { file: { contentType: CONTENT_TYPE_RULES.map((r) => r.contentType).join(', ') } },
    }),
  );

const Representation = {
  ETag: { description: 'The SHA-256 of the bytes, quoted', schema: { type: 'string' } },
  'Content-Disposition': { description: 'attachment, or inline where asked for and safe; with the uploaded file name', schema: { type: 'string' } },
  'Content-Length': { schema: { type: 'integer' } },
  'Repr-Digest': { description: 'sha-256 of the whole file (RFC 9530)', schema: { type: 'string' } },
};

const DownloadParams = () =>
  applyDecorators(
    FileKeyParams(),
    ApiQuery(DISPOSITION_QUERY),
    ApiHeader({ name: 'Range', required: false, description: 'One byte range, bytes=<first>-[<last>] or bytes=-<suffix>', schema: { type: 'string' } }),
    ApiHeader({ name: 'If-None-Match', required: false, description: 'The ETag you have: 304 if it is still the file', schema: { type: 'string' } }),
  );

export const DownloadDocs = () =>
  applyDecorators(
    DownloadParams(),
    ApiResponse({ status: 200, description: 'The bytes, as the type detected at upload', headers: Representation, content: binaryContent }),
    ApiResponse({ status: 206, description: 'The requested byte range', headers: { ...Representation, 'Content-Range': { schema: { type: 'string' } } }, content: binaryContent }),
    ApiResponse({ status: 304, description: 'Not modified: If-None-Match names the file' }),
    ApiErrors(400, 401, 403, 404, 416, 503),
  );

export const HeadDocs = () =>
  applyDecorators(
    DownloadParams(),
    ApiResponse({ status: 200, description: 'The headers a GET would answer with', headers: { ...Representation, 'Content-Type': { schema: { type: 'string' } } } }),
    ApiResponse({ status: 206, description: 'The headers of the requested range' }),
    ApiResponse({ status: 304, description: 'Not modified: If-None-Match names the file' }),
    BodilessErrors(400, 401, 403, 404, 416, 503),
  );
