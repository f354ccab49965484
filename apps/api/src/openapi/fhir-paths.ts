import {
  DEFAULT_PAGE_SIZE, definitionOf, FHIR_ID, MAX_BUNDLE_ENTRIES, MAX_OFFSET, MAX_PAGE_SIZE, SEARCH_PARAMETERS, searchParametersOf,
  SUPPORTED_RESOURCE_TYPES, type ResourceType,
} from '@app/fhir';
import { AUDIT_SEARCH_PARAMETERS } from '@app/audit';
import { ATTACHMENT_INDEX } from '../fhir/fhir-attachments.controller.js';
import { FHIR_MEDIA_TYPES } from '../fhir/fhir-media-types.js';
import { DISPOSITION_QUERY } from '../files/send-file.js';

type Json = Record<string, unknown>;

const schema = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const parameter = (name: string) => ({ $ref: `#/components/parameters/${name}` });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const fhirContent = (of: Json) => Object.fromEntries(FHIR_MEDIA_TYPES.map((type) => [type, { schema: of }]));

/** Why each error status happens under /fhir; every one carries an OperationOutcome. */
const OUTCOMES: Record<number, string> = {
  400: 'Malformed request or resource (the issues say what and where)',
  401: 'No bearer token, or one that is not valid',
  403: 'The resource links a file of another organization; the token lacks the audit scope (AuditEvent); or the resource a Binary\'s securityContext names no longer exists',
  404: 'No such resource in the organization, or no attachment at that field and index',
  412: 'If-Match names a version that is no longer the current one',
  416: 'The Range asks for bytes beyond the end of the file',
  413: 'The body is larger than FHIR_MAX_BODY_BYTES',
  415: 'Not FHIR JSON, or inline attachment data of a type the service does not store',
  406: 'Neither the Binary resource nor its content is acceptable (Accept, _format)',
  408: 'No byte of the upload arrived for UPLOAD_IDLE_TIMEOUT_SECONDS',
  409: 'Resources link the file (the issue names them): delete or update them first',
  422: 'The resource breaks FHIR R4 rules, or links a file that does not exist; or the file is infected',
  428: 'This deployment requires If-Match (FHIR_REQUIRE_IF_MATCH=true)',
  503: 'A dependency (database, object store, scanner) is unavailable; retry later',
};

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), response(`OperationOutcome${s}`)]));

/** HEAD answers carry no body, errors included. */
const bodilessErrors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { description: OUTCOMES[s] }]));

const SECURITY_NONE = { security: [] };

/**
 * The /fhir part of the OpenAPI document, one path per served type, generated
 * from RESOURCE_TYPES and the search parameters, so typed clients get
 * `createDocumentReference(body: DocumentReferenceInput): DocumentReference`
 * rather than a string-typed `{type}`. The FHIR controllers themselves stay
 * generic (`/fhir/:type`) and are left out of the Nest-scanned part.
 */
export function fhirPaths(): { paths: Json; components: Json } {
  const paths: Json = {
    '/fhir/metadata': {
      get: {
        operationId: 'fhirCapabilities',
        tags: ['fhir'],
        summary: 'CapabilityStatement: the types, interactions and search parameters served',
        description: 'Needs no token, as FHIR clients read it before they authenticate.',
        ...SECURITY_NONE,
        responses: { 200: { description: 'What this server does', content: fhirContent(schema('CapabilityStatement')) }, ...errors(503) },
      },
    },
  };
  paths['/fhir'] = {
    post: {
      operationId: 'fhirTransactionOrBatch',
      tags: ['fhir'],
      summary: 'A transaction or batch Bundle (IHE MHD ITI-65 Provide Document Bundle is a transaction)',
      description:
        `Entries GET, POST, PUT or DELETE relative URLs (Type, Type/id, Type?search), at most ${MAX_BUNDLE_ENTRIES}; no conditional ` +
        'interactions. A transaction is all or nothing: DELETEs, then POSTs, then PUTs, then GETs; urn:uuid fullUrls of POST entries ' +
        'become the assigned Type/id wherever a reference or url names them (attachment.url of a Binary entry included); Binaries and ' +
        'inline attachment data go through the upload\'s checks (415, 413, 422) and are kept only if the whole transaction commits. ' +
        'A refused entry answers for the whole transaction, with its status and an OperationOutcome whose issues say ' +
        'Bundle.entry[n]. A batch carries out each entry on its own; entries may not link each other. The answer, a ' +
        'transaction-response or batch-response, has per entry response.status ("201 Created"), location (Type/id), etag and ' +
        'lastModified, the resource unless Prefer: return=minimal, and for a failed batch entry response.outcome. FHIR_MAX_BODY_BYTES ' +
        'limits the Bundle: post a larger file raw to /fhir/Binary first and link it as Binary/<id>.',
      parameters: [parameter('PreferReturn')],
      requestBody: { required: true, content: fhirContent(schema('Bundle')) },
      responses: {
        200: { description: 'The transaction-response or batch-response Bundle', content: fhirContent(schema('Bundle')) },
        ...errors(400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 503),
      },
    },
  };
  for (const type of SUPPORTED_RESOURCE_TYPES) Object.assign(paths, typePaths(type));
  Object.assign(paths, binaryPaths());
  Object.assign(paths, auditEventPaths());
  return { paths, components: components() };
}

function binaryPaths(): Json {
  const tags = ['fhir'];
  const binaryContent = (description: string) => ({ description, content: fhirContent(schema('Binary')) });
  const format = { name: '_format', in: 'query', required: false, description: 'json (or application/fhir+json): the resource, whatever Accept says', schema: { type: 'string' } };
  const read = (method: 'get' | 'head') => ({
    operationId: `${method === 'get' ? 'read' : 'head'}Binary`,
    tags,
    summary: method === 'get' ? 'Read a Binary: the resource or its bytes, as negotiated' : 'The headers a GET of the Binary answers with',
    description:
      'Accept application/fhir+json, or _format=json: the Binary resource, its bytes inline as data up to FHIR_BINARY_INLINE_MAX_BYTES ' +
      '(1 MiB) and otherwise pointed at by an extension on _data. Any other Accept that admits the file\'s type (none, */*, the type ' +
      'itself): the bytes, as a download (Content-Type, Content-Disposition, ETag, Range) on the file store, or a 307 to a signed URL of ' +
      'the S3 store. Every stored file of the organization is a Binary, whatever route stored it.',
    parameters: [parameter('FhirId'), format, parameter('Disposition')],
    responses: {
      200: { description: 'The Binary resource (FHIR Accept), or the bytes', content: { ...fhirContent(schema('Binary')), '*/*': { schema: { type: 'string', format: 'binary' } } } },
      206: { description: 'One byte range of the bytes (file store)', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
      304: { description: 'If-None-Match names the current ETag' },
      307: response('SignedRedirect'),
      ...(method === 'get' ? errors(400, 401, 403, 404, 406, 416, 503) : bodilessErrors(400, 401, 403, 404, 406, 503)),
    },
  });
  return {
    '/fhir/Binary': {
      post: {
        operationId: 'createBinary',
        tags,
        summary: 'Create a Binary: a file stored through the upload\'s checks',
        description:
          'The body is the file, with its own Content-Type (and a name in Content-Disposition or ?_filename=, optional), as FHIR ' +
          'clients post a Binary; or a FHIR JSON Binary with contentType and base64 data (application/fhir+json). The content, the ' +
          'declared type (and the name\'s extension) must agree (415); with scanning on, it is stored only once found clean (422); ' +
          'MAX_UPLOAD_BYTES applies (413). The file is also at /files/<org>/<id>.<ext>. A securityContext (X-Security-Context, or ' +
          'securityContext.reference in the JSON) must be Type/id of an existing resource (422); reads then need it to exist (403).',
        parameters: [
          parameter('PreferReturn'),
          {
            name: 'X-Security-Context',
            in: 'header',
            required: false,
            description: 'Type/id of a resource of the organization whose readers alone may read the Binary (FHIR Binary.securityContext)',
            schema: { type: 'string', pattern: '^[A-Z][A-Za-z]+/[A-Za-z0-9\\-.]{1,64}$' },
          },
        ],
        // One media range: generated clients send the bytes as they are (a FHIR JSON Binary is such a body too,
        // with Content-Type application/fhir+json); two would give them a body type they cannot send.
        requestBody: {
          required: true,
          description: 'The file, or a FHIR JSON Binary ({"resourceType":"Binary","contentType":...,"data":<base64>}) as application/fhir+json',
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        responses: {
          201: {
            ...binaryContent('Stored (no body with Prefer: return=minimal)'),
            headers: { Location: header('Location'), ETag: header('ETag'), 'Last-Modified': header('Last-Modified') },
          },
          ...errors(400, 401, 408, 413, 415, 422, 503),
        },
      },
    },
    '/fhir/Binary/{id}': {
      get: read('get'),
      head: read('head'),
      delete: {
        operationId: 'deleteBinary',
        tags,
        summary: 'Delete a Binary and its bytes, unless resources link it',
        description: 'The file goes with it, at both of its addresses. Refused with 409 while FHIR resources link it (the issue names them).',
        parameters: [parameter('FhirId')],
        responses: { 204: { description: 'Deleted' }, ...errors(401, 404, 409, 503) },
      },
    },
  };
}

/** The audit trail: searched and read with the audit scope, never written by clients. */
function auditEventPaths(): Json {
  const tags = ['fhir'];
  const auditor = `Needs ${AUDIT_SCOPE_HINT} in the token (403 without); only the token's organization's events.`;
  return {
    '/fhir/AuditEvent': {
      get: {
        operationId: 'searchAuditEvent',
        tags,
        summary: 'Search the audit trail: a searchset Bundle of AuditEvents, newest first',
        description: `${auditor} Commas are alternatives; unknown parameters are ignored unless Prefer: handling=strict.`,
        parameters: [
          ...Object.entries(AUDIT_SEARCH_PARAMETERS).map(([name, p]) => ({ name, in: 'query', required: false, description: p.documentation, schema: { type: 'string' } })),
          parameter('search_count'),
          parameter('search_offset'),
          parameter('PreferHandling'),
        ],
        responses: { 200: { description: 'The matching events, a page at a time (follow the next link)', content: fhirContent(schema('Bundle')) }, ...errors(400, 401, 403, 503) },
      },
    },
    '/fhir/AuditEvent/{id}': {
      get: {
        operationId: 'readAuditEvent',
        tags,
        summary: 'Read one AuditEvent',
        description: auditor,
        parameters: [{ name: 'id', in: 'path', required: true, description: 'The event id (a UUID)', schema: { type: 'string', format: 'uuid' } }],
        responses: { 200: { description: 'The event', content: fhirContent(schema('AuditEvent')) }, ...errors(401, 403, 404, 503) },
      },
    },
  };
}

const AUDIT_SCOPE_HINT = 'the audit scope (AUDIT_READ_SCOPE, by default audit/AuditEvent.read, in the AUDIT_SCOPE_CLAIM claim, by default scope)';

function typePaths(type: ResourceType): Json {
  const field = definitionOf(type).attachmentField;
  const Field = field ? field[0]!.toUpperCase() + field.slice(1) : '';
  const tags = ['fhir'];
  const resourceAnswer = (status: number, description: string, headers: string[]) => ({
    [status]: {
      description,
      headers: Object.fromEntries(headers.map((h) => [h, header(h)])),
      content: fhirContent(schema(type)),
    },
  });
  const body = { required: true, content: fhirContent(schema(`${type}Input`)) };
  const attachment = (at: boolean) => {
    const parameters = [parameter('FhirId'), ...(at ? [parameter('AttachmentIndex')] : []), parameter('Disposition')];
    const where = at ? `The attachment at a zero-based index of ${type}.${field}` : `The first attachment of ${type}.${field}`;
    const suffix = at ? 'At' : '';
    return {
      get: {
        operationId: `get${type}${Field}${suffix}`,
        tags,
        summary: `${where}: 307 to a signed URL`,
        description:
          'Answers 307 with a Location that fetches the bytes with no other credential until it expires (PRESIGN_EXPIRES_SECONDS, 600 s ' +
          'by default). Follow it without forwarding the Authorization header, or read Location to hand the URL to a browser. ' +
          'An attachment whose url is outside this service is redirected to as it is; inline data is answered directly (200).',
        parameters,
        responses: { 307: response('SignedRedirect'), 200: response('InlineAttachment'), ...errors(400, 401, 403, 404, 503) },
      },
      head: {
        operationId: `head${type}${Field}${suffix}`,
        tags,
        summary: `${where}: 307 to a URL signed for HEAD`,
        description: 'As the GET, with a Location that answers HEAD: the type and size of the file without its bytes.',
        parameters,
        responses: { 307: response('SignedRedirect'), 200: { description: 'Inline attachment data: the headers only' }, ...bodilessErrors(400, 401, 404, 503) },
      },
    };
  };
  return {
    [`/fhir/${type}`]: {
      get: {
        operationId: `search${type}`,
        tags,
        summary: `Search ${type}: a searchset Bundle, ordered by _lastUpdated`,
        description:
          'Only resources of the token\'s organization. Unknown parameters are ignored unless Prefer: handling=strict; ' +
          'the Bundle\'s self link lists the parameters used.',
        parameters: [
          ...searchParametersOf(type).map((name) => parameter(`search_${name}`)),
          parameter('search_count'),
          parameter('search_offset'),
          parameter('PreferHandling'),
        ],
        responses: { 200: { description: 'The matching resources, a page at a time (follow the next link)', content: fhirContent(schema('Bundle')) }, ...errors(400, 401, 503) },
      },
      post: {
        operationId: `create${type}`,
        tags,
        summary: `Create a ${type}`,
        description:
          'Attachments link files by the url of their upload (relative or absolute), or carry inline data, which is ' +
          'checked and stored as a file of the organization. Answers the stored resource with its version.',
        parameters: [parameter('PreferReturn')],
        requestBody: body,
        responses: {
          ...resourceAnswer(201, 'Created (no body with Prefer: return=minimal)', ['Location', 'ETag', 'Last-Modified']),
          ...errors(400, 401, 403, 413, 415, 422, 503),
        },
      },
    },
    [`/fhir/${type}/{id}`]: {
      parameters: [parameter('FhirId')],
      get: {
        operationId: `read${type}`,
        tags,
        summary: `Read a ${type}`,
        description: 'Attachment urls point to this service\'s /files/<field> redirects, which answer with signed URLs.',
        responses: { ...resourceAnswer(200, 'The current version', ['ETag', 'Last-Modified']), ...errors(401, 404, 503) },
      },
      put: {
        operationId: `update${type}`,
        tags,
        summary: `Replace a ${type}; If-Match makes it conditional`,
        description:
          'Without If-Match the last write wins: send the ETag you read to be sure you replace what you saw. ' +
          'Files the resource no longer links, and that no other resource links, are deleted.',
        parameters: [parameter('IfMatch'), parameter('PreferReturn')],
        requestBody: body,
        responses: {
          ...resourceAnswer(200, 'The new version (no body with Prefer: return=minimal)', ['ETag', 'Last-Modified']),
          ...errors(400, 401, 403, 404, 412, 413, 415, 422, 428, 503),
        },
      },
      delete: {
        operationId: `delete${type}`,
        tags,
        summary: `Delete a ${type}, and the files no other resource links`,
        description: 'If-Match makes it conditional (412 when stale).',
        parameters: [parameter('IfMatch')],
        responses: { 204: { description: 'Deleted' }, ...errors(401, 404, 412, 428, 503) },
      },
    },
    ...(field && {
      [`/fhir/${type}/{id}/files/${field}`]: attachment(false),
      [`/fhir/${type}/{id}/files/${field}/{index}`]: attachment(true),
    }),
  };
}

function components(): Json {
  const searchParameters = Object.fromEntries(
    Object.entries(SEARCH_PARAMETERS).map(([name, { documentation }]) => [
      `search_${name}`,
      name === '_lastUpdated'
        ? { name, in: 'query', description: `${documentation}; repeat for a range (ge…&lt…)`, schema: { type: 'array', items: { type: 'string' } }, style: 'form', explode: true }
        : { name, in: 'query', description: documentation, schema: { type: 'string' } },
    ]),
  );
  return {
    parameters: {
      FhirId: { name: 'id', in: 'path', required: true, description: 'The logical id', schema: { type: 'string', pattern: FHIR_ID.source } },
      AttachmentIndex: { name: 'index', in: 'path', required: true, description: 'Zero-based', schema: { type: 'integer', minimum: 0, maximum: ATTACHMENT_INDEX.max } },
      Disposition: { ...DISPOSITION_QUERY, in: 'query' },
      IfMatch: {
        name: 'If-Match',
        in: 'header',
        description: 'The ETag of the version you read (W/"3"): the write happens only if it is still current (412 otherwise); * for whichever version exists',
        schema: { type: 'string', pattern: '^((W/)?"[0-9]{1,9}"|\\*)$' },
      },
      PreferReturn: {
        name: 'Prefer',
        in: 'header',
        description: 'return=minimal: answer without the resource (the headers still say where and which version)',
        schema: { type: 'string', enum: ['return=minimal', 'return=representation'] },
      },
      PreferHandling: {
        name: 'Prefer',
        in: 'header',
        description: 'handling=strict: refuse unknown search parameters (400) instead of ignoring them',
        schema: { type: 'string', enum: ['handling=strict', 'handling=lenient'] },
      },
      ...searchParameters,
      search_count: {
        name: '_count',
        in: 'query',
        description: `Resources per page (default ${DEFAULT_PAGE_SIZE}; more than ${MAX_PAGE_SIZE} is read as ${MAX_PAGE_SIZE})`,
        schema: { type: 'integer', minimum: 0, maximum: MAX_PAGE_SIZE },
      },
      search_offset: { name: '_offset', in: 'query', description: 'Resources to skip', schema: { type: 'integer', minimum: 0, maximum: MAX_OFFSET } },
    },
    headers: {
      Location: { description: 'The absolute URL of the resource', schema: { type: 'string', format: 'uri' } },
      ETag: { description: 'The version, as If-Match takes it: W/"<versionId>"', schema: { type: 'string' } },
      'Last-Modified': { description: 'meta.lastUpdated, as an HTTP date', schema: { type: 'string' } },
    },
    responses: {
      ...Object.fromEntries(
        Object.entries(OUTCOMES).map(([status, description]) => [`OperationOutcome${status}`, { description, content: fhirContent(schema('OperationOutcome')) }]),
      ),
      SignedRedirect: {
        description: 'Redirect to a short-lived signed URL of the file',
        headers: {
          Location: { description: 'The signed URL: a credential until it expires; do not log it', schema: { type: 'string', format: 'uri' } },
          'Cache-Control': { schema: { type: 'string', const: 'no-store' } },
        },
      },
      InlineAttachment: {
        description: 'Attachment data held inline in a resource this service did not write (the type it declares)',
        content: { '*/*': { schema: {} } },
      },
    },
  };
}
