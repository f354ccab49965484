import { MAX_OFFSET, parseCount, parseDateCondition, InvalidSearchError, type InstantCondition } from '@app/fhir';
import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { AUDIT_SYSTEMS } from './audit-event.js';

/** The search parameters of GET /fhir/AuditEvent, as the CapabilityStatement lists them. */
export const AUDIT_SEARCH_PARAMETERS = {
  date: { type: 'date', documentation: 'When the event was recorded; prefixes eq, ne, gt, ge, lt, le, sa, eb' },
  entity: { type: 'reference', documentation: 'A resource (Type/id), a stored file key, a patient (Patient/id) or a request id (X-Request-Id)' },
  agent: { type: 'reference', documentation: "The token subject (sub) of who accessed" },
  patient: { type: 'reference', documentation: 'The patient the accessed resource is about: Patient/id or id' },
  type: { type: 'token', documentation: 'rest, or 110114 (user authentication)' },
  subtype: { type: 'token', documentation: 'create, read, update, delete, search-type, or 110122 (login)' },
  outcome: { type: 'token', documentation: '0 success, 4 refused, 8 failed' },
} as const;

/** The AuditEvent entry of the CapabilityStatement. */
export function auditEventCapability(readScope: string): CapabilityStatementRestResource {
  return {
    type: 'AuditEvent',
    profile: 'http://hl7.org/fhir/StructureDefinition/AuditEvent',
    documentation: `Every access to files and resources, following IHE BALP. Read and searched with the ${readScope} scope, newest first; written only by the server.`,
    interaction: [{ code: 'read' }, { code: 'search-type' }],
    searchParam: Object.entries(AUDIT_SEARCH_PARAMETERS).map(([name, p]) => ({ name, type: p.type, documentation: p.documentation })),
  };
}
const DEFAULT_COUNT = 50;
const MAX_COUNT = 500;

export interface AuditQuery {
  /** `date`: every condition must hold. */
  dates: InstantCondition[];
  /** `entity`: a resource reference, a file key, a patient reference or a request id; any of them. */
  entities?: string[];
  /** `agent`: the token subject, any of them. */
  agents?: string[];
  /** `patient`: `Patient/<id>`, any of them. */
  patients?: string[];
  types?: string[];
  subtypes?: string[];
  outcomes?: string[];
  count: number;
  offset: number;
  /** What the self and next links repeat. */
  applied: Array<[string, string]>;
}

/** `code` or `system|code`: the code (the systems of each parameter are fixed). */
function codeOf(value: string): string {
  return value.includes('|') ? value.slice(value.indexOf('|') + 1) : value;
}

/**
 * Reads `GET /fhir/AuditEvent`'s search parameters: `date` (with prefixes),
 * `entity`, `agent`, `patient`, `type`, `subtype`, `outcome`, `_count`,
 * `_offset`. Unknown parameters are ignored unless the client asked for
 * strict handling; commas are alternatives.
 */
export function parseAuditSearch(params: Iterable<[string, string]>, strict: boolean): AuditQuery {
  const query: AuditQuery = { dates: [], count: DEFAULT_COUNT, offset: 0, applied: [] };
  for (const [name, value] of params) {
    const values = value.split(',');
    switch (name) {
      case '_count':
        query.count = parseCount(name, value, MAX_COUNT);
        continue;
      case '_offset':
        query.offset = parseCount(name, value, MAX_OFFSET);
        continue;
      case 'date':
        query.dates.push(parseDateCondition(name, value));
        break;
      case 'entity':
        query.entities = values.map((v) => (v.startsWith(`${AUDIT_SYSTEMS.file}|`) ? codeOf(v) : v));
        break;
      case 'agent':
        query.agents = values.map(codeOf);
        break;
      case 'patient':
        query.patients = values.map((v) => {
          const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(v);
          if (!m) throw new InvalidSearchError(`patient must be an id or Patient/<id>, got '${v}'`);
          return `Patient/${m[1]}`;
        });
        break;
      case 'type':
        query.types = values.map(codeOf);
        break;
      case 'subtype':
        query.subtypes = values.map(codeOf);
        break;
      case 'outcome':
        if (!values.every((v) => ['0', '4', '8', '12'].includes(v))) throw new InvalidSearchError(`outcome is 0, 4, 8 or 12, got '${value}'`);
        query.outcomes = values;
        break;
      default:
        if (strict) throw new InvalidSearchError(`Unknown search parameter '${name}' for AuditEvent`);
        continue;
    }
    query.applied.push([name, value]);
  }
  return query;
}
