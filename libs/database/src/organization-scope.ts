import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { Injectable, Logger } from '@nestjs/common';
import { escapeLiteral, type Pool, type QueryResult, type QueryResultRow } from 'pg';
import { DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import { inRequest } from '@app/common';
import { CROSS_ORGANIZATION_SETTING, ORGANIZATION_SETTING } from './row-level-security.js';

/**
 * Transactions that row-level security confines to one organization's rows
 * (`app.organization_id`), or, on the one named path, lets across all of them
 * (`app.cross_organization`). Both settings are transaction-local (SET LOCAL
 * semantics): a pooled connection carries neither outside these transactions,
 * so a query run anywhere else sees no organization's rows at all.
 *
 * The setting goes with BEGIN as one simple-protocol message (a literal,
 * quoted by pg): one round trip instead of TypeORM's two before the work.
 */
@Injectable()
export class OrganizationScope {
  private readonly logger = new Logger('OrganizationScope');
  /** The transaction `work` of forOrganization runs in, for the calls it makes to join (see forOrganization). */
  private readonly open = new AsyncLocalStorage<OpenTransaction>();

  constructor(private readonly db: DataSource) {}

  /**
   * `work` in a transaction that sees and writes only `organizationId`'s rows.
   * Called from within another `work` of the same organization, it joins that
   * transaction: what the inner call writes commits or rolls back with the
   * outer one (how a FHIR transaction confirms its uploads with its
   * resources). Another organization's work inside one is a bug, refused.
   */
  async forOrganization<T>(organizationId: string, work: (m: EntityManager) => Promise<T>): Promise<T> {
    const joined = this.joinable(organizationId);
    if (joined) return work(joined.runner.manager);
    return this.transaction(organizationSetting(organizationId), work, organizationId);
  }

  /**
   * One statement for one organization in a single round trip: the setting
   * and the statement are sent as one simple-protocol message, which Postgres
   * runs as one implicit transaction, committed (durably, for a write) before
   * the answer comes back; the setting ends with it. Simple protocol has no
   * parameters: `sql` puts every value in through `literal`. For hot paths
   * that have no database function of their own (callForOrganization);
   * anything else uses forOrganization.
   */
  async statementForOrganization<R>(organizationId: string, sql: (literal: (value: string) => string) => string): Promise<R[]> {
    const joined = this.joinable(organizationId);
    // Structured: TypeORM's plain result of an UPDATE or DELETE is [rows, count], not the rows.
    if (joined) return (await joined.runner.query(sql(escapeLiteral), undefined, true)).records as R[];
    const pool = (this.db.driver as unknown as { master: Pool }).master;
    const results = (await pool.query(`${organizationSetting(organizationId)}; ${sql(escapeLiteral)}`)) as unknown as QueryResult[];
    return results[1]!.rows as R[];
  }

  /**
   * One call of a database function that acts for the organization named by
   * its first argument (see migration 1764900000000), sent as a named prepared
   * statement with parameters: one round trip, planned once per connection,
   * and no value quoted into SQL text. The function sets the organization
   * itself, so a call on its own is one implicit transaction, committed
   * before its answer comes back; inside a forOrganization of the same
   * organization it joins that transaction.
   */
  async callForOrganization<R>(fn: OrganizationFunction, organizationId: string, ...args: unknown[]): Promise<R[]> {
    requireOrganization(organizationId);
    const values = [organizationId, ...args];
    const text = `SELECT * FROM ${fn}(${values.map((_, i) => `$${i + 1}`).join(', ')})`;
    const joined = this.joinable(organizationId);
    if (joined) return (await joined.runner.query(text, values, true)).records as R[];
    const pool = (this.db.driver as unknown as { master: Pool }).master;
    return (await pool.query<R & QueryResultRow>({ name: `${fn}/${values.length}`, text, values })).rows;
  }

  /** Whether the caller runs inside a forOrganization of this organization, whose writes a read must see. */
  inTransaction(organizationId: string): boolean {
    return this.joinable(organizationId) !== undefined;
  }

  /**
   * `wait` runs once the transaction of the caller's forOrganization (of this
   * organization) has committed, before the outermost forOrganization
   * returns; not at all if it rolls back. Given the moment the commit was
   * confirmed (performance.now()). The same `wait` runs once per transaction
   * however often it is asked for.
   */
  afterCommit(organizationId: string, wait: (committedAt: number) => Promise<void>): void {
    const open = this.joinable(organizationId);
    if (!open) throw new Error('afterCommit is for work inside forOrganization');
    if (!open.afterCommit.includes(wait)) open.afterCommit.push(wait);
  }

  /**
   * `work` in a transaction that sees every organization's rows: only for
   * background work (the sweepers), named by `purpose`. Refused while an HTTP
   * request is handled, which acts for the one organization of its token.
   */
  async acrossOrganizations<T>(purpose: string, work: (m: EntityManager) => Promise<T>): Promise<T> {
    if (inRequest()) {
      throw new Error(`Refused to work across organizations (${purpose}) while handling an HTTP request: a request acts for one organization`);
    }
    this.logger.verbose(`Across organizations: ${purpose}`);
    return this.transaction(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'on', true)`, work);
  }

  /** The still-open transaction of the caller's forOrganization, if it is for this organization. */
  private joinable(organizationId: string): OpenTransaction | undefined {
    const current = this.open.getStore();
    if (!current?.active) return undefined;
    if (current.organizationId !== organizationId) {
      throw new Error(`Refused to act for another organization inside a transaction of ${current.organizationId}`);
    }
    return current;
  }

  private async transaction<T>(setting: string, work: (m: EntityManager) => Promise<T>, organizationId?: string): Promise<T> {
    const runner = this.db.createQueryRunner();
    let open: OpenTransaction | undefined;
    let result: T;
    try {
      try {
        await runner.query(`BEGIN; ${setting}`);
      } catch (e) {
        // BEGIN may have succeeded without the setting: the connection must not go back to the pool mid-transaction.
        await runner.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
      markTransactionOpen(runner);
      // Work it starts that outlives it (a promise not awaited) must not find it open: `active` ends with it.
      open = organizationId === undefined ? undefined : { organizationId, runner, active: true, afterCommit: [] };
      try {
        result = open ? await this.open.run(open, () => work(runner.manager)) : await work(runner.manager);
        if (open) open.active = false;
        await runner.commitTransaction();
      } catch (e) {
        if (open) open.active = false;
        await runner.rollbackTransaction().catch(() => undefined);
        throw e;
      }
    } finally {
      await runner.release();
    }
    // With the connection back in the pool.
    const committedAt = performance.now();
    for (const wait of open?.afterCommit ?? []) await wait(committedAt);
    return result;
  }
}

/** The database functions callForOrganization may call: each takes the organization first and acts for it. */
export type OrganizationFunction = 'fhir_resource' | 'fhir_resource_with_files' | 'audit_append_for';

interface OpenTransaction {
  organizationId: string;
  runner: QueryRunner;
  active: boolean;
  afterCommit: Array<(committedAt: number) => Promise<void>>;
}

/** An empty id would match no row, but it is a caller's bug: say so. */
function requireOrganization(organizationId: string): void {
  if (!organizationId) throw new Error('An organization id is required');
}

function organizationSetting(organizationId: string): string {
  requireOrganization(organizationId);
  return `SELECT set_config('${ORGANIZATION_SETTING}', ${escapeLiteral(organizationId)}, true)`;
}

/**
 * TypeORM's record of an open transaction, as its startTransaction() leaves it
 * (which would have sent BEGIN on its own): commit and rollback then work as
 * usual, and a transaction that `work` opens becomes a savepoint.
 */
function markTransactionOpen(runner: QueryRunner): void {
  Object.assign(runner, { isTransactionActive: true, transactionDepth: 1 });
}
