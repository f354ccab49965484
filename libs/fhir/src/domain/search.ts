import type { Bundle } from '@medplum/fhirtypes';
import { InvalidSearchError } from './errors.js';
import { definitionOf, FHIR_ID, type FhirJson, type ResourceType } from './resource-types.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
export const MAX_OFFSET = 10_000;

/** The search parameters a type may be searched by (besides _count and _offset), as the CapabilityStatement and the OpenAPI document declare them. */
export const SEARCH_PARAMETERS = {
  _id: { type: 'token', documentation: 'Logical id; several ids separated by commas' },
  _lastUpdated: { type: 'date', documentation: 'Prefixes eq, ne, gt, ge, lt, le, sa, eb; dates without a zone are UTC' },
  subject: { type: 'reference', documentation: '<id> (any type) or <Type>/<id>' },
  patient: { type: 'reference', documentation: '<id> or Patient/<id>' },
  status: { type: 'token', documentation: 'The status code; several separated by commas' },
  code: { type: 'token', documentation: '<system>|<code>, <code> (any system) or |<code> (no system); several separated by commas' },
} as const;

export type SearchParameterName = keyof typeof SEARCH_PARAMETERS;

export function searchParametersOf(type: ResourceType): SearchParameterName[] {
  const definition = definitionOf(type);
  return [
    '_id',
    '_lastUpdated',
    ...definition.subjectSearchParams,
    ...(definition.searchableStatus ? (['status'] as const) : []),
    ...(definition.codeElement ? (['code'] as const) : []),
  ];
}

/** A token of `code`: `system` undefined matches any system, null only codings without one. */
export interface CodeToken {
  system?: string | null;
  code: string;
}

const DATE_PREFIXES = ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'sa', 'eb'] as const;
export type DatePrefix = (typeof DATE_PREFIXES)[number];

/** A `_lastUpdated` condition over the instant range [from, to) that the value's precision denotes. */
export interface InstantCondition {
  prefix: DatePrefix;
  from: Date;
  to: Date;
}

export interface SearchQuery {
  /** `_id`: any of these ids. */
  ids?: string[];
  /** `subject` / `patient`: any of these references (type absent: any type). */
  subjects?: Array<{ type?: string; id: string }>;
  /** `status`: any of these codes. */
  statuses?: string[];
  /** `code`: a coding of the type's codeElement matches any of these. */
  codes?: CodeToken[];
  /** `_lastUpdated`, every condition must hold. */
  lastUpdated: InstantCondition[];
  count: number;
  offset: number;
  /** The parameters used, in order, for the Bundle's self link (unknown ones are left out, as FHIR asks). */
  applied: Array<[string, string]>;
}

const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** Parses a FHIR search date into the range its precision covers; dates without a zone are UTC. */
export function parseInstantRange(value: string): { from: Date; to: Date } | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const month = mo ? Number(mo) : 1;
  const day = d ? Number(d) : 1;
  const daysInMonth = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59)) return undefined;
  const iso = `${y}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${h ?? '00'}:${mi ?? '00'}:${s ?? '00'}.${(frac ?? '').padEnd(3, '0').slice(0, 3)}${zone ?? 'Z'}`;
  const from = new Date(iso);
  if (Number.isNaN(from.getTime())) return undefined;
  const to = new Date(from);
  if (!mo) to.setUTCFullYear(to.getUTCFullYear() + 1);
  else if (!d) to.setUTCMonth(to.getUTCMonth() + 1);
  else if (h === undefined) to.setUTCDate(to.getUTCDate() + 1);
  else if (s === undefined) to.setUTCMinutes(to.getUTCMinutes() + 1);
  else if (frac === undefined) to.setUTCSeconds(to.getUTCSeconds() + 1);
  else to.setUTCMilliseconds(to.getUTCMilliseconds() + 1);
  return { from, to };
}

/** A date search value, `[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]]zone]]]`, as the instant range its precision denotes. */
export function parseDateCondition(name: string, value: string): InstantCondition {
  const [, given, date = ''] = /^([a-z]{2})?(.*)$/s.exec(value)!;
  if (given !== undefined && !DATE_PREFIXES.includes(given as DatePrefix)) {
    throw new InvalidSearchError(`${name} prefixes are ${DATE_PREFIXES.join(', ')}; got '${given}'`);
  }
  const range = parseInstantRange(date);
  if (!range) throw new InvalidSearchError(`${name} must be [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.sss]]Z|±hh:mm]]], got '${value}'`);
  return { prefix: (given ?? 'eq') as DatePrefix, ...range };
}

/** SQL for each prefix over [from, to); the bounds become query parameters only when used. */
const DATE_SQL: Record<DatePrefix, (column: string, from: () => string, to: () => string) => string> = {
  eq: (c, from, to) => `(${c} >= ${from()} AND ${c} < ${to()})`,
  ne: (c, from, to) => `(${c} < ${from()} OR ${c} >= ${to()})`,
  gt: (c, _, to) => `${c} >= ${to()}`,
  sa: (c, _, to) => `${c} >= ${to()}`,
  ge: (c, from) => `${c} >= ${from()}`,
  lt: (c, from) => `${c} < ${from()}`,
  eb: (c, from) => `${c} < ${from()}`,
  le: (c, _, to) => `${c} < ${to()}`,
};

/** SQL for a date condition on a timestamptz column; `param` adds a value as a query parameter and names it. */
export function dateConditionSql(column: string, c: InstantCondition, param: (value: Date) => string): string {
  return DATE_SQL[c.prefix](column, () => `${param(c.from)}::timestamptz`, () => `${param(c.to)}::timestamptz`);
}

export function parseCount(name: string, value: string, max: number): number {
  if (!/^\d{1,6}$/.test(value)) throw new InvalidSearchError(`${name} must be a non-negative integer`);
  return Math.min(Number(value), max);
}

function parseCodeToken(value: string): CodeToken {
  const bar = value.indexOf('|');
  const token: CodeToken = bar < 0 ? { code: value } : { system: bar === 0 ? null : value.slice(0, bar), code: value.slice(bar + 1) };
  if (!token.code || token.code.includes('|')) throw new InvalidSearchError(`code must be <system>|<code>, <code> or |<code>, got '${value}'`);
  return token;
}

function parseReference(name: string, value: string, fixedType?: string): { type?: string; id: string } {
  const m = /^(?:([A-Z][A-Za-z]+)\/)?([A-Za-z0-9\-.]{1,64})$/.exec(value);
  if (!m || (fixedType && m[1] && m[1] !== fixedType)) {
    throw new InvalidSearchError(`${name} must be an id or ${fixedType ?? '<Type>'}/<id>, got '${value}'`);
  }
  return { type: fixedType ?? m[1], id: m[2]! };
}

/**
 * Reads the search parameters this server supports for a type. Unknown
 * parameters are ignored as FHIR's default ("lenient") handling says, unless
 * the client asked for `Prefer: handling=strict`; a known parameter with a
 * modifier we do not implement is refused, never silently widened.
 */
export function parseSearch(type: ResourceType, params: Iterable<[string, string]>, strict: boolean): SearchQuery {
  const subjectParams: readonly string[] = definitionOf(type).subjectSearchParams;
  const known: readonly string[] = [...searchParametersOf(type), '_count', '_offset'];
  const query: SearchQuery = { lastUpdated: [], count: DEFAULT_PAGE_SIZE, offset: 0, applied: [] };
  for (const [rawName, value] of params) {
    const [name = '', modifier] = rawName.split(':', 2);
    if (!known.includes(name)) {
      if (strict) throw new InvalidSearchError(`Unknown search parameter '${rawName}' for ${type}`);
      continue;
    }
    if (modifier !== undefined) throw new InvalidSearchError(`The modifier :${modifier} is not supported on ${name}`);
    const values = value.split(',');
    switch (name) {
      case '_count':
        query.count = parseCount(name, value, MAX_PAGE_SIZE);
        continue;
      case '_offset':
        query.offset = parseCount(name, value, MAX_OFFSET);
        continue;
      case '_id':
        if (!values.every((v) => FHIR_ID.test(v))) throw new InvalidSearchError(`_id must be resource ids, got '${value}'`);
        // Several _id parameters must all hold: intersect.
        query.ids = query.ids ? query.ids.filter((id) => values.includes(id)) : values;
        break;
      case '_lastUpdated':
        query.lastUpdated.push(parseDateCondition(name, value));
        break;
      case 'status':
        if (query.statuses) throw new InvalidSearchError('Give status once; use commas for alternatives');
        // A code is a token without a system here (the status value sets are required bindings).
        if (!values.every((v) => /^[A-Za-z0-9][A-Za-z0-9\-.]*$/.test(v.replace(/^\|/, '')))) throw new InvalidSearchError(`status must be codes, got '${value}'`);
        query.statuses = values.map((v) => v.replace(/^\|/, ''));
        break;
      case 'code':
        if (query.codes) throw new InvalidSearchError('Give code once; use commas for alternatives');
        query.codes = values.map(parseCodeToken);
        break;
      default: {
        const subjects = values.map((v) => parseReference(name, v, name === 'patient' ? 'Patient' : undefined));
        if (query.subjects) throw new InvalidSearchError(`Give ${subjectParams.join(' or ')} once; use commas for alternatives`);
        query.subjects = subjects;
      }
    }
    query.applied.push([rawName, value]);
  }
  return query;
}

export interface SearchPage {
  resources: FhirJson[];
  total: number;
}

/** A searchset Bundle with absolute self/next/previous links; `typeUrl` is `<base>/fhir/<Type>`. */
export function searchsetBundle(page: SearchPage, query: Pick<SearchQuery, 'applied' | 'count' | 'offset'>, typeUrl: string): Bundle {
  const link = (offset: number) => {
    const params = new URLSearchParams(query.applied);
    params.set('_count', String(query.count));
    if (offset > 0) params.set('_offset', String(offset));
    return `${typeUrl}?${params.toString()}`;
  };
  const links: NonNullable<Bundle['link']> = [{ relation: 'self', url: link(query.offset) }];
  if (query.count > 0 && query.offset + page.resources.length < page.total) {
    links.push({ relation: 'next', url: link(query.offset + query.count) });
  }
  if (query.offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, query.offset - query.count)) });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.total,
    link: links,
    entry: page.resources.map((resource) => ({
      fullUrl: `${typeUrl}/${resource.id}`,
      resource: resource as never,
      search: { mode: 'match' },
    })),
  };
}
