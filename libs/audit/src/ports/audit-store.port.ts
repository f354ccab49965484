import type { CommitRider } from '@app/database';
import type { AuditColumns, AuditEventJson } from '../domain/audit-event.js';
import type { AuditQuery } from '../domain/audit-search.js';

/** The first event whose hash or link to its predecessor does not hold, if any. */
export interface ChainVerification {
  events: number;
  broken?: { seq: string; id: string; problem: 'hash' | 'link' };
}

/** An append carried by another write's statement (CommitRider's expression), and whether an error of that statement is the append's own. */
export type RidingAppend = Pick<CommitRider, 'expression'> & { failedIn(error: unknown): boolean };

/**
 * Port: where audit events are kept. Append-only: nothing here updates or
 * deletes, and the adapter's storage refuses it too.
 */
export abstract class AuditStore {
  /** Appends an event to its organization's chain. */
  abstract append(organizationId: string, event: AuditEventJson, columns: AuditColumns): Promise<void>;

  /** The same append as the expression of a rider on another write (see RidingAppend). */
  abstract appendAlong(organizationId: string, event: AuditEventJson, columns: AuditColumns): RidingAppend;

  /** One organization's events matching the query, newest first, with the total. */
  abstract search(organizationId: string, query: AuditQuery): Promise<{ events: Array<Record<string, unknown>>; total: number }>;

  /** One organization's event by id. */
  abstract find(organizationId: string, id: string): Promise<Record<string, unknown> | null>;

  /** Recomputes an organization's chain from its first event. */
  abstract verify(organizationId: string): Promise<ChainVerification>;
}
