import { Injectable } from '@nestjs/common';
import { OrganizationScope } from '@app/database';
import { dateConditionSql } from '@app/fhir';
import type { AuditColumns, AuditEventJson } from '../domain/audit-event.js';
import type { AuditQuery } from '../domain/audit-search.js';
import { AuditStore, type ChainVerification, type RidingAppend } from '../ports/audit-store.port.js';

/** One event as audit_append() takes it: the columns, its id and time, and the event itself. */
type Item = AuditColumns & { id: string; recorded: string; event: AuditEventJson };

interface Pending {
  item: Item;
  done: (error?: unknown) => void;
}

function itemOf(event: AuditEventJson, columns: AuditColumns): Item {
  return { ...columns, id: event.id, recorded: event.recorded, event };
}

/** Most events one transaction appends; more wait for the next. */
const MAX_BATCH = 500;

/**
 * Audit events in Postgres (table audit_events, see its migration).
 *
 * Appends are group-committed per organization: events that arrive while the
 * organization's previous batch is being written are written together, in
 * one transaction and one round trip, by the database's audit_append() (called
 * through audit_append_for(), which sets the organization for it), which
 * takes the chain's lock, links each event to the one before it with
 * audit_event_hash() (the function verification uses too) and inserts it.
 * Every append resolves only once its batch has committed, so no access is
 * answered before its record is durable; a chain is never written by two transactions at once, so it never
 * forks. Batching is what keeps a hot chain (a viewer firing dozens of 307s
 * for one hospital) from queueing one transaction per event behind its lock.
 * An upload's event can instead ride on the statement that makes its file
 * available (appendAlong): the same function, under the same lock.
 */
@Injectable()
export class PostgresAuditStore extends AuditStore {
  private readonly queues = new Map<string, Pending[]>();
  private readonly writing = new Set<string>();

  constructor(private readonly scope: OrganizationScope) {
    super();
  }

  append(organizationId: string, event: AuditEventJson, columns: AuditColumns): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(organizationId) ?? [];
      queue.push({ item: itemOf(event, columns), done: (e) => (e === undefined ? resolve() : reject(e)) });
      this.queues.set(organizationId, queue);
      if (!this.writing.has(organizationId)) void this.drain(organizationId);
    });
  }

  /**
   * A batch of one, appended by the statement of another write under the same chain lock
   * as the group commit's batches. An error raised inside audit_append_for or audit_append (its
   * table gone, its lock not granted in time) names the function in the error's context, whose
   * words the server's lc_messages translates but whose function names it does not.
   */
  appendAlong(organizationId: string, event: AuditEventJson, columns: AuditColumns): RidingAppend {
    return {
      expression: (literal) => `audit_append_for(${literal(organizationId)}, ${literal(JSON.stringify([itemOf(event, columns)]))}::jsonb)`,
      failedIn: (error) => /\baudit_append(?:_for)?\(/.test(String((error as { where?: unknown } | null)?.where ?? '')),
    };
  }

  /** Writes the organization's queued events, a batch at a time, until none are left. */
  private async drain(organizationId: string): Promise<void> {
    this.writing.add(organizationId);
    try {
      for (;;) {
        const queue = this.queues.get(organizationId) ?? [];
        if (queue.length === 0) break;
        const batch = queue.splice(0, MAX_BATCH);
        try {
          // One round trip per batch: the call commits before its answer comes back.
          await this.scope.callForOrganization('audit_append_for', organizationId, JSON.stringify(batch.map((p) => p.item)));
          for (const p of batch) p.done();
        } catch (e) {
          for (const p of batch) p.done(e);
        }
      }
    } finally {
      this.queues.delete(organizationId);
      this.writing.delete(organizationId);
    }
  }

  async search(organizationId: string, query: AuditQuery): Promise<{ events: Array<Record<string, unknown>>; total: number }> {
    const params: unknown[] = [organizationId];
    const param = (value: unknown) => `$${params.push(value)}`;
    const where = ['organization_id = $1'];
    for (const c of query.dates) where.push(dateConditionSql('recorded', c, param));
    if (query.entities) where.push(`entities && ${param(query.entities)}::text[]`);
    if (query.agents) where.push(`agent = ANY(${param(query.agents)}::text[])`);
    if (query.patients) where.push(`patient = ANY(${param(query.patients)}::text[])`);
    if (query.types) where.push(`type = ANY(${param(query.types)}::text[])`);
    if (query.subtypes) where.push(`subtype = ANY(${param(query.subtypes)}::text[])`);
    if (query.outcomes) where.push(`outcome = ANY(${param(query.outcomes)}::text[])`);
    const filter = where.join(' AND ');
    return this.scope.forOrganization(organizationId, async (m) => {
      const [{ total }]: [{ total: number }] = await m.query(`SELECT count(*)::int AS total FROM audit_events WHERE ${filter}`, params);
      if (query.count === 0 || query.offset >= total) return { events: [], total };
      const rows: Array<{ event: Record<string, unknown> }> = await m.query(
        `SELECT event FROM audit_events WHERE ${filter} ORDER BY recorded DESC, seq DESC LIMIT ${param(query.count)} OFFSET ${param(query.offset)}`,
        params,
      );
      return { events: rows.map((r) => r.event), total };
    });
  }

  async find(organizationId: string, id: string): Promise<Record<string, unknown> | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) return null;
    const rows: Array<{ event: Record<string, unknown> }> = await this.scope.forOrganization(organizationId, (m) =>
      m.query('SELECT event FROM audit_events WHERE organization_id = $1 AND id = $2', [organizationId, id]),
    );
    return rows[0]?.event ?? null;
  }

  async verify(organizationId: string): Promise<ChainVerification> {
    return this.scope.forOrganization(organizationId, async (m) => {
      const [{ events }]: [{ events: number }] = await m.query('SELECT count(*)::int AS events FROM audit_events WHERE organization_id = $1', [organizationId]);
      // Each row must link to its predecessor's hash, and its hash must be audit_event_hash(that, its event).
      const broken: Array<{ seq: string; id: string; problem: 'hash' | 'link' }> = await m.query(
        `SELECT seq::text, id, CASE WHEN prev_hash IS DISTINCT FROM previous THEN 'link' ELSE 'hash' END AS problem
           FROM (SELECT seq, id, prev_hash, hash, event, lag(hash) OVER (ORDER BY seq) AS previous
                   FROM audit_events WHERE organization_id = $1) chain
          WHERE prev_hash IS DISTINCT FROM previous OR hash IS DISTINCT FROM audit_event_hash(previous, event)
          ORDER BY seq LIMIT 1`,
        [organizationId],
      );
      return { events, ...(broken[0] && { broken: broken[0] }) };
    });
  }
}
