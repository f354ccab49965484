import { Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { AuditTrail, type AuditAction, type AuditEntities, type AuditRecord } from '@app/audit';
import type { CommitRider } from '@app/database';
import { parseOrganizationId, principalOf } from '@app/tenancy';
import { requestIdOf } from '../http/request-context.js';

/**
 * The audited routes (method and route pattern) and the interaction each is.
 * HEAD is audited as the GET it mirrors. Probes, metrics, documentation,
 * /whoami and the CapabilityStatement touch no organization's data.
 */
const AUDITED: Record<string, AuditAction> = {
  'POST /files/upload': 'create',
  'GET /files': 'search',
  'GET /files/:orgId/:fileName': 'read',
  'GET /files/:orgId/:fileName/metadata': 'read',
  'DELETE /files/:orgId/:fileName': 'delete',
  'GET /signed-files/:orgId/:fileName': 'read',
  'POST /fhir': 'create',
  'GET /fhir/AuditEvent': 'search',
  'GET /fhir/AuditEvent/:id': 'read',
  'POST /fhir/Binary': 'create',
  'GET /fhir/Binary/:id': 'read',
  'DELETE /fhir/Binary/:id': 'delete',
  'GET /fhir/:type': 'search',
  'POST /fhir/:type': 'create',
  'GET /fhir/:type/:id': 'read',
  'PUT /fhir/:type/:id': 'update',
  'DELETE /fhir/:type/:id': 'delete',
  'GET /fhir/:type/:id/files/:field': 'read',
  'GET /fhir/:type/:id/files/:field/:index': 'read',
};

/**
 * Uploads whose answer names the stored file and nothing else: their record is complete once the
 * file's key is known, so it can commit with the file's `available` mark (recordWithUpload).
 */
const RECORDED_WITH_THE_FILE = new Set(['POST /files/upload']);

/** Search parameters whose values are references, ids, dates, codes or paging, never free text: safe in an audit record. */
const RECORDED_SEARCH_PARAMETERS = new Set(['_id', '_lastUpdated', 'subject', 'patient', 'status', 'code', '_count', '_offset', 'date', 'entity', 'agent', 'type', 'subtype', 'outcome', 'limit']);

/** The status nginx logs for a request whose client closed the connection before its answer. */
const CLIENT_CLOSED_REQUEST = 499;

const NOTES = Symbol('auditNotes');
const RECORDED = Symbol('auditRecorded');

type Notes = AuditEntities & { organizationId?: string };
/** `success`: its success is recorded (with its file), but a refusal after that still is too. */
type Audited = Request & { [NOTES]?: Notes; [RECORDED]?: true | 'success' };

/** `METHOD /route/pattern` of a request routed to a handler (HEAD as the GET it mirrors), else undefined. */
function routeOf(req: Request): string | undefined {
  const route = (req.route as { path?: string } | undefined)?.path;
  return route === undefined ? undefined : `${req.method === 'HEAD' ? 'GET' : req.method} ${req.baseUrl}${route}`;
}

/** One entry of a transaction or batch, audited as the single interaction it stands for. */
export interface EntryAudit {
  action: AuditAction;
  status: number;
  entities: AuditEntities;
}

/** What a handler learned about the access (the resource, the file, the patient) for its audit record. */
export function noteAccess(req: Request, notes: Notes): void {
  const audited = req as Audited;
  audited[NOTES] = { ...audited[NOTES], ...notes, detail: { ...audited[NOTES]?.detail, ...notes.detail } };
}

/** `Type?param=value&…` of a search, with only the parameters that cannot carry free text. */
export function recordedQuery(params: URLSearchParams, type: string): string {
  const kept = [...params].filter(([name]) => RECORDED_SEARCH_PARAMETERS.has(name.split(':')[0]!));
  return kept.length > 0 ? `${type}?${new URLSearchParams(kept)}` : type;
}

/**
 * Turns each request on an audited route into one AuditRecord: the route says
 * the interaction, the verified token the agent, the route's parameters and
 * what the handler noted (noteAccess) the entities. Successes are recorded
 * before the answer leaves (success(); with AUDIT_REQUIRED a record that cannot
 * be written fails the request); refusals and failures once the error answer
 * is known (failure()), without holding it up. Each request is recorded once.
 */
@Injectable()
export class AccessAudit {
  private readonly logger = new Logger('Audit');

  constructor(private readonly trail: AuditTrail) {}

  /** The interaction of an audited route, or undefined. */
  actionOf(req: Request): AuditAction | undefined {
    const route = routeOf(req);
    return route === undefined ? undefined : AUDITED[route];
  }

  /** Records a successful access before it is answered; rejects (503) only when AUDIT_REQUIRED and the record failed. */
  async success(req: Request, status: number): Promise<void> {
    const record = this.claim(req, status);
    if (record) await this.trail.record(record);
  }

  /**
   * Records each entry of a Bundle that was carried out, before the answer
   * leaves: one record per entry, with the request's agent and id, so that
   * who saw or changed which resource reads the same as for single requests.
   */
  async successEach(req: Request, entries: readonly EntryAudit[]): Promise<void> {
    const request = this.claim(req, 200);
    if (!request) return;
    for (const entry of entries) {
      await this.trail.record({ ...request, action: entry.action, outcome: { status: entry.status }, entities: entry.entities });
    }
  }

  /**
   * For an upload whose record can commit with its file (RECORDED_WITH_THE_FILE), when the trail
   * lets records ride on writes: given the stored file's key, the rider that records the upload
   * as created (201) in the statement that makes the file available, instead of success() after
   * it. If that statement fails, the refusal is recorded as usual; if the request is refused after
   * it committed (another file part, a broken end, the client gone: see gone()), the refusal is
   * recorded too, and names the file it removed.
   */
  recordWithUpload(req: Request): ((key: string) => CommitRider | undefined) | undefined {
    const route = routeOf(req);
    if (!this.trail.ridesWrites || route === undefined || !RECORDED_WITH_THE_FILE.has(route)) return undefined;
    const audited = req as Audited;
    return (key) => {
      const claimed = this.claim(req, 201);
      if (!claimed) return undefined;
      const record = { ...claimed, entities: { ...claimed.entities, file: key } };
      // The record's chain is the token's organization, which must be the file's: the statement acts for the file's.
      const rider = key.startsWith(`${record.agent.organizationId}/`) ? this.trail.rider(record) : undefined;
      if (!rider) {
        audited[RECORDED] = undefined; // success() records it after all
        return undefined;
      }
      return {
        expression: rider.expression,
        settle: (error?: unknown) => {
          if (error === undefined) {
            audited[RECORDED] = 'success';
            noteAccess(req, { file: key });
          } else {
            audited[RECORDED] = undefined;
          }
          return rider.settle(error);
        },
      };
    };
  }

  /**
   * A request whose client left before its answer. Unrecorded as a rule (nobody was answered),
   * except an upload whose success committed with its file: the file is removed again, and the
   * trail says so rather than leave its creation the last word.
   */
  gone(req: Request): void {
    if ((req as Audited)[RECORDED] === 'success') this.failure(req, CLIENT_CLOSED_REQUEST, 'client_gone');
  }

  /** Records a refused or failed access; never fails, never holds the answer up. */
  failure(req: Request, status: number, reason: string | undefined): void {
    const record = this.claim(req, status, reason);
    if (!record) return;
    this.trail.record(record).catch((e: unknown) => this.logger.warn(`Refusal of ${record.requestId} not recorded: ${(e as Error).message}`));
  }

  private claim(req: Request, status: number, reason?: string): AuditRecord | undefined {
    const audited = req as Audited;
    const action = this.actionOf(req);
    if (!action || audited[RECORDED] === true || (audited[RECORDED] === 'success' && status < 400)) return undefined;
    audited[RECORDED] = true;
    const principal = principalOf(req);
    const { organizationId: notedOrganization, ...noted } = audited[NOTES] ?? {};
    const params = req.params as Record<string, string | undefined>;
    const signedUrl = (req.route as { path: string }).path.startsWith('/signed-files/');
    const pathOrganization = parseOrganizationId(params.orgId);
    const file = noted.file ?? (params.orgId && params.fileName ? `${params.orgId}/${params.fileName}` : undefined);
    const resource = noted.resource ?? (params.type && params.id ? `${params.type}/${params.id}` : undefined);
    const failedLogin = status === 401;
    return {
      action: failedLogin ? 'login' : action,
      outcome: { status, ...(reason && { reason }) },
      agent: {
        subject: principal?.subject,
        clientId: principal?.clientId,
        // Whose data it is: the token's organization; for a signed URL, or a request without a valid token, the one in the path.
        organizationId: principal?.organizationId ?? notedOrganization ?? pathOrganization,
        sourceIp: req.ip,
        ...(signedUrl && { signedUrl: true }),
      },
      entities: { ...noted, file, resource },
      requestId: requestIdOf(req) ?? '-',
      recorded: new Date(),
    };
  }
}
