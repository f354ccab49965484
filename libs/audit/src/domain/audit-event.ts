/**
 * What the service records about one access, and the FHIR R4 AuditEvent it
 * becomes, following IHE's Basic Audit Log Patterns (BALP): a RESTful
 * interaction (create, read, update, delete, search) or a failed
 * authentication, who asked (the token's subject, its client, the
 * organization, the network address), what was touched (the resource, the
 * stored file, the patient the resource is about) and the request's
 * X-Request-Id. It never holds a token, a signed URL, file contents, or a
 * search value other than references and dates.
 */

/** The interactions the service audits. `login` is a failed authentication. */
export type AuditAction = 'create' | 'read' | 'update' | 'delete' | 'search' | 'login';

export interface AuditAgent {
  /** The token's `sub`; absent for a signed URL (the URL is the only credential) and a failed authentication. */
  subject?: string;
  /** The token's `azp` or `client_id`: the application acting for the user. */
  clientId?: string;
  /** The organization the token acts for (or, for a signed URL, whose file it is). */
  organizationId?: string;
  /** The client's address as the service sees it, through proxies only when TRUST_PROXY says so. */
  sourceIp?: string;
  /** The access was made with a signed URL rather than a token. */
  signedUrl?: boolean;
}

export interface AuditEntities {
  /** `<orgId>/<fileId>.<ext>` of a stored file. */
  file?: string;
  /** `Type/id` of a FHIR resource. */
  resource?: string;
  /** `Patient/id` of the patient the resource is about, where it names one. */
  patient?: string;
  /** A search, as `Type?param=value&…` with only parameters whose values are references, ids, dates or paging. */
  query?: string;
  /** Facts of the access worth keeping (a redirect's disposition and expiry), never a URL or a token. */
  detail?: Record<string, string>;
}

export interface AuditRecord {
  action: AuditAction;
  /** The HTTP status answered, and for a refusal its code or reason. */
  outcome: { status: number; reason?: string };
  agent: AuditAgent;
  entities: AuditEntities;
  requestId: string;
  recorded: Date;
}

/** The events of requests that name no organization (a token that did not verify) go to this chain. */
export const SERVICE_CHAIN = '_service';

export const AUDIT_SYSTEMS = {
  eventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  restful: 'http://hl7.org/fhir/restful-interaction',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  entityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  sourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  balpEntityType: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
  subject: 'urn:clinical-attachments:subject',
  client: 'urn:clinical-attachments:client',
  organization: 'urn:clinical-attachments:organization',
  file: 'urn:clinical-attachments:file',
} as const;

const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit';

/** type, subtype, action code and BALP profile of each audited interaction. */
const INTERACTIONS: Record<AuditAction, { type: Coding; subtype: Coding; action: 'C' | 'R' | 'U' | 'D' | 'E'; profile?: string }> = {
  create: { type: rest(), subtype: { system: AUDIT_SYSTEMS.restful, code: 'create', display: 'create' }, action: 'C', profile: 'Create' },
  read: { type: rest(), subtype: { system: AUDIT_SYSTEMS.restful, code: 'read', display: 'read' }, action: 'R', profile: 'Read' },
  update: { type: rest(), subtype: { system: AUDIT_SYSTEMS.restful, code: 'update', display: 'update' }, action: 'U', profile: 'Update' },
  delete: { type: rest(), subtype: { system: AUDIT_SYSTEMS.restful, code: 'delete', display: 'delete' }, action: 'D', profile: 'Delete' },
  search: { type: rest(), subtype: { system: AUDIT_SYSTEMS.restful, code: 'search-type', display: 'search-type' }, action: 'E', profile: 'Query' },
  login: {
    type: { system: AUDIT_SYSTEMS.dicom, code: '110114', display: 'User Authentication' },
    subtype: { system: AUDIT_SYSTEMS.dicom, code: '110122', display: 'Login' },
    action: 'E',
  },
};

interface Coding {
  system: string;
  code: string;
  display?: string;
}

function rest(): Coding {
  return { system: AUDIT_SYSTEMS.eventType, code: 'rest', display: 'RESTful Operation' };
}

/** FHIR's outcome codes: 0 success, 4 minor failure (the request was refused), 8 serious failure (the service failed). */
export function outcomeCode(status: number): '0' | '4' | '8' {
  if (status < 400) return '0';
  return status < 500 ? '4' : '8';
}

/** The columns the store searches on, beside the event itself. */
export interface AuditColumns {
  type: string;
  subtype: string;
  outcome: string;
  agent?: string;
  patient?: string;
  /** Every reference and identifier an `entity` search may match: resource, file key, patient, request id. */
  entities: string[];
}

export function columnsOf(record: AuditRecord): AuditColumns {
  const interaction = INTERACTIONS[record.action];
  const { file, resource, patient } = record.entities;
  return {
    type: interaction.type.code,
    subtype: interaction.subtype.code,
    outcome: outcomeCode(record.outcome.status),
    agent: record.agent.subject,
    patient,
    entities: [resource, file, patient, record.requestId].filter((v): v is string => v !== undefined),
  };
}

/** An AuditEvent as stored and served: FHIR JSON, with the two fields the store indexes typed. */
export type AuditEventJson = Record<string, unknown> & { id: string; recorded: string };

/** The record as a FHIR R4 AuditEvent with the given id. */
export function toAuditEvent(record: AuditRecord, id: string): AuditEventJson {
  const interaction = INTERACTIONS[record.action];
  const { agent, entities } = record;
  const withPatient = entities.patient !== undefined;
  return {
    resourceType: 'AuditEvent',
    id,
    ...(interaction.profile && { meta: { profile: [`${BALP}.${withPatient ? 'Patient' : ''}${interaction.profile}`] } }),
    type: interaction.type,
    subtype: [interaction.subtype],
    action: interaction.action,
    recorded: record.recorded.toISOString(),
    outcome: outcomeCode(record.outcome.status),
    outcomeDesc: `${record.outcome.status}${record.outcome.reason ? ` ${record.outcome.reason}` : ''}`,
    agent: agentsOf(agent),
    source: {
      observer: { display: 'clinical-attachments' },
      type: [{ system: AUDIT_SYSTEMS.sourceType, code: '4', display: 'Application Server' }],
    },
    entity: entitiesOf(record),
  };
}

function agentsOf(agent: AuditAgent): object[] {
  const user = {
    type: { coding: [{ system: AUDIT_SYSTEMS.participation, code: 'IRCP', display: 'information recipient' }] },
    who: agent.subject
      ? { identifier: { system: AUDIT_SYSTEMS.subject, value: agent.subject } }
      : { display: agent.signedUrl ? 'holder of a signed URL' : 'unauthenticated client' },
    requestor: true,
    ...(agent.sourceIp && { network: { address: agent.sourceIp, type: '2' } }),
  };
  const client = agent.clientId && {
    type: { coding: [{ system: AUDIT_SYSTEMS.dicom, code: '110150', display: 'Application' }] },
    who: { identifier: { system: AUDIT_SYSTEMS.client, value: agent.clientId } },
    requestor: false,
  };
  const organization = agent.organizationId && {
    type: { text: 'organization' },
    who: { identifier: { system: AUDIT_SYSTEMS.organization, value: agent.organizationId } },
    requestor: false,
  };
  return [user, client, organization].filter((a): a is typeof user => Boolean(a));
}

function entitiesOf(record: AuditRecord): object[] {
  const { file, resource, patient, query, detail } = record.entities;
  const details = detail && Object.entries(detail).map(([type, valueString]) => ({ type, valueString }));
  const systemObject = { system: AUDIT_SYSTEMS.entityType, code: '2', display: 'System Object' };
  const list: object[] = [];
  if (resource) list.push({ what: { reference: resource }, type: systemObject, role: { system: AUDIT_SYSTEMS.objectRole, code: '4', display: 'Domain Resource' } });
  if (file) {
    list.push({
      what: { identifier: { system: AUDIT_SYSTEMS.file, value: file } },
      type: systemObject,
      role: { system: AUDIT_SYSTEMS.objectRole, code: '3', display: 'Report' },
      ...(details && { detail: details }),
    });
  }
  if (patient) {
    list.push({
      what: { reference: patient },
      type: { system: AUDIT_SYSTEMS.entityType, code: '1', display: 'Person' },
      role: { system: AUDIT_SYSTEMS.objectRole, code: '1', display: 'Patient' },
    });
  }
  if (query) {
    list.push({
      type: systemObject,
      role: { system: AUDIT_SYSTEMS.objectRole, code: '24', display: 'Query' },
      query: Buffer.from(query).toString('base64'),
    });
  }
  list.push({ what: { identifier: { value: record.requestId } }, type: { system: AUDIT_SYSTEMS.balpEntityType, code: 'XrequestId', display: 'X-Request-Id' } });
  return list;
}
