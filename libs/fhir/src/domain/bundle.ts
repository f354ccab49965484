import { MalformedResourceError } from './errors.js';
import { walkJson } from './resource-json.js';
import { FHIR_ID, type FhirJson } from './resource-types.js';

/** Most entries one Bundle may hold: an MHD submission is a handful; a batch of thousands is a job for many requests. */
export const MAX_BUNDLE_ENTRIES = 1000;

export type BundleKind = 'transaction' | 'batch';

/** One entry of a transaction or batch, as the server will carry it out. */
export interface BundleEntryRequest {
  /** Its place in Bundle.entry: the response entry at the same place answers it. */
  index: number;
  fullUrl?: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The type named by request.url. */
  type: string;
  /** The id named by request.url (GET, PUT and DELETE of one resource). */
  id?: string;
  /** The query of a search (GET `Type?…`). */
  search?: URLSearchParams;
  /** POST and PUT: the entry's resource. */
  resource?: FhirJson;
  /** request.ifMatch: the version a PUT or DELETE expects. */
  ifMatch?: string;
}

export interface BundleRequest {
  kind: BundleKind;
  entries: BundleEntryRequest[];
}

/**
 * Elements whose value names another resource or a location, where a
 * transaction replaces an entry's fullUrl with the resource's assigned
 * `Type/id` (FHIR R4 http.html#trules: references, uri and url elements).
 * Identifier.value and other strings stay as they are: MHD carries an entry's
 * urn:uuid as its entryUUID identifier, which must not change.
 */
const LINK_ELEMENTS = new Set(['reference', 'url', 'valueUri', 'valueUrl', 'valueCanonical']);

/** request elements this server does not carry out: conditional interactions are not supported (see the CapabilityStatement). */
const CONDITIONAL = ['ifNoneMatch', 'ifModifiedSince', 'ifNoneExist'] as const;

function malformed(message: string, expression: string): MalformedResourceError {
  return new MalformedResourceError(`${expression}: ${message}`);
}

/**
 * A Bundle of type transaction or batch as entries to carry out; any entry
 * that cannot be understood refuses the whole Bundle (400), before anything
 * is done. request.url is relative to the FHIR base (`Patient`, `Patient/1`,
 * `Patient?name=x`), as FHIR clients send it.
 */
export function parseBundle(body: unknown): BundleRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MalformedResourceError('The body must be a FHIR Bundle (a JSON object)');
  const bundle = body as FhirJson;
  if (bundle.resourceType !== 'Bundle') {
    throw new MalformedResourceError(
      `POST /fhir takes a Bundle of type transaction or batch; a ${String(bundle.resourceType ?? 'body without resourceType')} goes to /fhir/<its type>`,
    );
  }
  const kind = bundle.type;
  if (kind !== 'transaction' && kind !== 'batch') {
    throw malformed(`must be 'transaction' or 'batch' to be processed (it is ${JSON.stringify(kind ?? null)})`, 'Bundle.type');
  }
  const given = bundle.entry ?? [];
  if (!Array.isArray(given)) throw malformed('must be an array', 'Bundle.entry');
  if (given.length > MAX_BUNDLE_ENTRIES) throw malformed(`holds ${given.length} entries; at most ${MAX_BUNDLE_ENTRIES} are taken in one Bundle`, 'Bundle.entry');
  const fullUrls = new Set<string>();
  const entries = given.map((raw: unknown, index: number) => {
    const where = `Bundle.entry[${index}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw malformed('must be an object', where);
    const entry = raw as { fullUrl?: unknown; resource?: unknown; request?: Record<string, unknown> };
    const { request } = entry;
    if (typeof request !== 'object' || request === null) throw malformed('needs request (method and url) in a transaction or batch', where);
    for (const name of CONDITIONAL) {
      if (request[name] !== undefined) throw malformed('conditional interactions are not supported by this server', `${where}.request.${name}`);
    }
    const method = request.method;
    if (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
      throw malformed(`must be GET, POST, PUT or DELETE (${JSON.stringify(method ?? null)} is not supported here)`, `${where}.request.method`);
    }
    if (entry.fullUrl !== undefined) {
      if (typeof entry.fullUrl !== 'string' || entry.fullUrl === '') throw malformed('must be a non-empty string', `${where}.fullUrl`);
      if (fullUrls.has(entry.fullUrl)) throw malformed(`${entry.fullUrl} names two entries`, `${where}.fullUrl`);
      fullUrls.add(entry.fullUrl);
    }
    const parsed: BundleEntryRequest = { index, method, type: '', ...(entry.fullUrl !== undefined && { fullUrl: entry.fullUrl as string }) };
    Object.assign(parsed, target(request.url, method, `${where}.request.url`));
    // A batch links nothing by fullUrl (entries that try are refused one by one), so only a transaction's are checked.
    if (parsed.fullUrl !== undefined && kind === 'transaction') checkFullUrl(parsed, `${where}.fullUrl`);
    if (request.ifMatch !== undefined) {
      if (typeof request.ifMatch !== 'string' || (method !== 'PUT' && method !== 'DELETE')) {
        throw malformed('is a version ETag (W/"3") for a PUT or DELETE', `${where}.request.ifMatch`);
      }
      parsed.ifMatch = request.ifMatch;
    }
    if (method === 'POST' || method === 'PUT') {
      if (typeof entry.resource !== 'object' || entry.resource === null || Array.isArray(entry.resource)) {
        throw malformed(`a ${method} needs the resource`, `${where}.resource`);
      }
      parsed.resource = entry.resource as FhirJson;
    } else if (entry.resource !== undefined) {
      throw malformed(`a ${method} carries no resource`, `${where}.resource`);
    }
    return parsed;
  });
  return { kind, entries };
}

/**
 * A fullUrl other entries may link by, which a transaction turns into the
 * resource's Type/id: for a POST a urn (the resource has no id yet), for a PUT
 * a urn or the URL of the very resource it changes. Anything else would send
 * those links to another resource than the one they name.
 */
function checkFullUrl(e: BundleEntryRequest, where: string): void {
  const urn = /^urn:(uuid|oid):/i.test(e.fullUrl!);
  if (e.method === 'POST' && !urn) throw malformed('a POST creates a resource with no id yet: name it urn:uuid:<uuid>', where);
  if (e.method === 'PUT' && !urn && e.fullUrl !== `${e.type}/${e.id}` && !e.fullUrl!.endsWith(`/${e.type}/${e.id}`)) {
    throw malformed(`must be the URL of the resource the entry changes (…/${e.type}/${e.id}) or a urn:uuid:`, where);
  }
}

/** The type, id and search of request.url, as the method needs them. */
function target(url: unknown, method: BundleEntryRequest['method'], where: string): Pick<BundleEntryRequest, 'type' | 'id' | 'search'> {
  if (typeof url !== 'string' || url === '') throw malformed('is required: the type (POST), Type/id (PUT, DELETE, read) or Type?query (search)', where);
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) throw malformed('must be relative to the FHIR base (Patient/1, not an absolute URL)', where);
  const [path = '', query] = url.replace(/^\//, '').split(/\?(.*)/s, 2);
  const segments = path.split('/');
  const type = segments[0] ?? '';
  if (!/^[A-Z][A-Za-z]{0,63}$/.test(type)) throw malformed(`does not start with a resource type (${url})`, where);
  if (method === 'POST') {
    if (segments.length !== 1 || query !== undefined) throw malformed(`a POST creates at the type's URL (${type}); conditional creates are not supported`, where);
    return { type };
  }
  if (method === 'GET' && segments.length === 1) return { type, search: new URLSearchParams(query ?? '') };
  if (segments.length !== 2 || query !== undefined) {
    throw malformed(`a ${method} names one resource as Type/id; ${method === 'GET' ? 'history and operations are' : 'conditional interactions are'} not supported`, where);
  }
  const id = segments[1]!;
  if (!FHIR_ID.test(id)) throw malformed(`${id} is not a FHIR id`, where);
  return { type, id };
}

/**
 * Replaces, in `resource`, every reference or url that is exactly one of the
 * `assigned` fullUrls with the `Type/id` the server gave that entry.
 */
export function rewriteLinks(resource: FhirJson, root: string, assigned: ReadonlyMap<string, string>): void {
  if (assigned.size === 0) return;
  walkJson(resource, root, (value, _path, key, parent) => {
    if (typeof value !== 'string' || key === undefined || !LINK_ELEMENTS.has(key)) return;
    const replacement = assigned.get(value);
    if (replacement !== undefined) (parent as Record<string, unknown>)[key] = replacement;
  });
}

/** Where a resource links another entry by its fullUrl: a batch's entries stand alone (R4 http.html#brules). */
export function linksToEntries(resource: FhirJson, root: string, fullUrls: ReadonlySet<string>): string | undefined {
  let found: string | undefined;
  walkJson(resource, root, (value, path, key) => {
    if (found === undefined && typeof value === 'string' && key !== undefined && LINK_ELEMENTS.has(key) && fullUrls.has(value)) found = path;
  });
  return found;
}

/** A reference by search (`Patient?identifier=…`): FHIR's conditional reference, which this server does not resolve. */
const CONDITIONAL_REFERENCE = /^[A-Z][A-Za-z]*\?/;

/**
 * Where a transaction's resource links something it cannot resolve: a
 * `urn:` that is no entry's fullUrl (`known`), or a conditional reference.
 * Stored as they are, they would name nothing (a DocumentReference whose
 * subject no search finds, an attachment no GET reaches).
 */
export function unresolvedLink(resource: FhirJson, root: string, known: ReadonlySet<string>): { path: string; value: string } | undefined {
  let found: { path: string; value: string } | undefined;
  walkJson(resource, root, (value, path, key) => {
    if (found !== undefined || typeof value !== 'string' || key === undefined || !LINK_ELEMENTS.has(key)) return;
    if ((/^urn:(uuid|oid):/i.test(value) && !known.has(value)) || (key === 'reference' && CONDITIONAL_REFERENCE.test(value))) found = { path, value };
  });
  return found;
}
