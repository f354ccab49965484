import { Test, type TestingModule } from '@nestjs/testing';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { runInRequest } from '@app/common';
import { ConfigModule, loadConfig } from '@app/config';
import { DatabaseModule, OrganizationScope, SERVICE_ROLE } from '@app/database';
import { newOrganizationId, scratchDatabase, tempDir } from '../support/environment.js';

const TABLES = ['stored_files', 'fhir_resources', 'fhir_file_links', 'fhir_file_releases'] as const;

function boot(url: string, env: Record<string, string> = {}): Promise<TestingModule> {
  const config = loadConfig({ DATABASE_URL: url, DATA_DIR: tempDir(), JWT_SECRET: 'x'.repeat(32), ...env });
  return Test.createTestingModule({ imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config)] }).compile();
}

/**
 * The second wall between organizations: the app's own DatabaseModule on a
 * database of its own, with rows of two organizations in every table written
 * by the test as the superuser (which row-level security never applies to).
 */
describe('row-level security', () => {
  let db: { url: string; drop(): Promise<void> };
  let moduleRef: TestingModule;
  let scope: OrganizationScope;
  let dataSource: DataSource;
  let admin: pg.Client;
  const [orgA, orgB] = [newOrganizationId(), newOrganizationId()];

  /** Two rows per organization and table. */
  async function seed(organizationId: string): Promise<void> {
    for (const n of [1, 2]) {
      await admin.query(
        `INSERT INTO stored_files (organization_id, id, file_name, original_name, content_type, status, scan_status)
         VALUES ($1, $2, $2 || '.pdf', 'lab.pdf', 'application/pdf', 'pending', 'pending')`,
        [organizationId, `file${n}`],
      );
      await admin.query(
        `INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, resource)
         VALUES ($1, 'DocumentReference', $2, 1, now(), '{}')`,
        [organizationId, `doc${n}`],
      );
      await admin.query(
        `INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id) VALUES ($1, $2 || '.pdf', 'DocumentReference', $3)`,
        [organizationId, `file${n}`, `doc${n}`],
      );
      await admin.query('INSERT INTO fhir_file_releases (organization_id, file_name) VALUES ($1, $2)', [organizationId, `released${n}.pdf`]);
    }
  }

  /** What each table holds per organization, as the superuser sees it. */
  async function countsByOrganization(): Promise<Record<string, Record<string, number>>> {
    const counts: Record<string, Record<string, number>> = {};
    for (const table of TABLES) {
      const { rows } = await admin.query(`SELECT organization_id, count(*)::int AS n FROM ${table} GROUP BY organization_id`);
      counts[table] = Object.fromEntries(rows.map((r: { organization_id: string; n: number }) => [r.organization_id, r.n]));
    }
    return counts;
  }

  /** The organization setting a pooled connection of the service carries, and the rows of `table` it sees. */
  async function settingOfPooledConnection(table: (typeof TABLES)[number]): Promise<{ org: string; n: number }> {
    const client = await (dataSource.driver as unknown as { master: pg.Pool }).master.connect();
    try {
      const { rows } = await client.query(`SELECT coalesce(current_setting('app.organization_id', true), '') AS org, (SELECT count(*)::int FROM ${table}) AS n`);
      return rows[0];
    } finally {
      client.release();
    }
  }

  beforeAll(async () => {
    db = await scratchDatabase();
    moduleRef = await boot(db.url);
    scope = moduleRef.get(OrganizationScope);
    dataSource = moduleRef.get(DataSource);
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await seed(orgA);
    await seed(orgB);
  });

  afterAll(async () => {
    await admin?.end();
    await moduleRef?.close();
    await db?.drop();
  });

  it.each(TABLES)('shows a query without an organization filter only the rows of the transaction organization (%s)', async (table) => {
    const rows: Array<{ organization_id: string }> = await scope.forOrganization(orgA, (m) => m.query(`SELECT organization_id FROM ${table}`));
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.organization_id === orgA)).toBe(true);
  });

  it('reads one organization in a single round trip with the same wall', async () => {
    const rows = await scope.statementForOrganization<{ organization_id: string }>(orgB, () => 'SELECT organization_id FROM stored_files');
    expect(rows).toEqual([{ organization_id: orgB }, { organization_id: orgB }]);
    const quoted = await scope.statementForOrganization<{ v: string }>(orgB, (literal) => `SELECT ${literal("it's \\ quoted")} AS v`);
    expect(quoted).toEqual([{ v: "it's \\ quoted" }]);
  });

  it('calls an organization function as a prepared statement, for that organization only, and the setting ends with the call', async () => {
    const withFiles = await scope.callForOrganization<{ resource: unknown; files: Array<{ fileName: string }> }>('fhir_resource_with_files', orgB, 'DocumentReference', 'doc1');
    expect(withFiles).toEqual([{ resource: {}, files: [expect.objectContaining({ fileName: 'file1.pdf' })] }]);
    // Twice on every pooled connection: the second call runs the statement prepared by the first.
    for (let i = 0; i < 25; i++) {
      expect(await scope.callForOrganization('fhir_resource', orgA, 'DocumentReference', 'doc2')).toEqual([{ resource: {} }]);
    }
    expect(await settingOfPooledConnection('fhir_resources')).toEqual({ org: '', n: 0 });
    await expect(scope.callForOrganization('fhir_resource', '', 'DocumentReference', 'doc1')).rejects.toThrow(/organization id is required/);
    // The database refuses a missing organization too, for any caller of the function.
    await expect(admin.query(`SELECT * FROM fhir_resource('', 'DocumentReference', 'doc1')`)).rejects.toThrow(/organization id is required/);
  });

  it("joins the caller's transaction with an organization function, and sees what it wrote", async () => {
    await expect(
      scope.forOrganization(orgA, async (m) => {
        await m.query(`UPDATE fhir_resources SET resource = '{"seen": true}' WHERE id = 'doc1'`);
        expect(await scope.callForOrganization('fhir_resource', orgA, 'DocumentReference', 'doc1')).toEqual([{ resource: { seen: true } }]);
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    expect(await scope.callForOrganization('fhir_resource', orgA, 'DocumentReference', 'doc1')).toEqual([{ resource: {} }]);
  });

  it("shows a query on the service's connection outside those transactions no rows at all", async () => {
    for (const table of TABLES) expect(await dataSource.query(`SELECT * FROM ${table}`)).toEqual([]);
    // The pool hands out the connection released last: the one the transaction just used, whose setting ended with it.
    await scope.forOrganization(orgA, (m) => m.query('SELECT 1'));
    expect(await settingOfPooledConnection('stored_files')).toEqual({ org: '', n: 0 });
  });

  it("lets an UPDATE or DELETE without an organization filter touch no other organization's row", async () => {
    const before = await countsByOrganization();
    const updated = await scope.forOrganization(orgA, async (m) => {
      const [, files]: [unknown, number] = await m.query(`UPDATE stored_files SET original_name = 'renamed.pdf'`);
      const [, releases]: [unknown, number] = await m.query('UPDATE fhir_file_releases SET deleted_at = now()');
      return { files, releases };
    });
    expect(updated).toEqual({ files: 2, releases: 2 });
    const { rows } = await admin.query(`SELECT organization_id, original_name FROM stored_files WHERE organization_id = $1`, [orgB]);
    expect(rows.map((r: { original_name: string }) => r.original_name)).toEqual(['lab.pdf', 'lab.pdf']);

    await scope.forOrganization(orgA, async (m) => {
      for (const table of ['fhir_file_links', 'fhir_file_releases']) await m.query(`DELETE FROM ${table}`);
    });
    const after = await countsByOrganization();
    expect(after.fhir_file_links).toEqual({ ...before.fhir_file_links, [orgA]: undefined, [orgB]: 2 });
    expect(after.fhir_file_releases).toEqual({ ...before.fhir_file_releases, [orgA]: undefined, [orgB]: 2 });
    expect(after.stored_files).toEqual(before.stored_files);
    await seedLinksAndReleasesAgain(orgA);
  });

  it('refuses to write a row of another organization, or to move a row to it', async () => {
    await expect(
      scope.forOrganization(orgA, (m) => m.query('INSERT INTO fhir_file_releases (organization_id, file_name) VALUES ($1, $2)', [orgB, 'planted.pdf'])),
    ).rejects.toThrow(/row-level security/);
    await expect(scope.forOrganization(orgA, (m) => m.query('UPDATE stored_files SET organization_id = $1', [orgB]))).rejects.toThrow(
      /row-level security/,
    );
    expect((await countsByOrganization()).stored_files).toMatchObject({ [orgA]: 2, [orgB]: 2 });
  });

  it('sees every organization on the named cross-organization path, and refuses it while a request is handled', async () => {
    const rows: Array<{ organization_id: string }> = await scope.acrossOrganizations('test: every organization', (m) =>
      m.query('SELECT DISTINCT organization_id FROM stored_files ORDER BY organization_id'),
    );
    expect(rows.map((r) => r.organization_id)).toEqual([orgA, orgB].sort());

    await expect(
      runInRequest(() => scope.acrossOrganizations('test: inside a request', (m) => m.query('SELECT organization_id FROM stored_files'))),
    ).rejects.toThrow(/across organizations \(test: inside a request\) while handling an HTTP request/);
    // Deeper in the request's asynchronous work too, and while one organization's work is allowed there.
    await expect(
      runInRequest(async () => {
        await new Promise((r) => setTimeout(r, 1));
        return scope.acrossOrganizations('test: later in a request', async () => 'ran');
      }),
    ).rejects.toThrow(/while handling an HTTP request/);
    const inRequest = await runInRequest(() => scope.forOrganization(orgA, (m) => m.query('SELECT count(*)::int AS n FROM stored_files')));
    expect(inRequest).toEqual([{ n: 2 }]);
  });

  it("joins the open transaction of the same organization, whose rollback takes the inner work's writes too", async () => {
    const names = () => admin.query('SELECT original_name FROM stored_files WHERE organization_id = $1 ORDER BY id', [orgA]).then((r) => r.rows);
    const before = await names();
    const backends = new Set<number>();
    await expect(
      scope.forOrganization(orgA, async (m) => {
        backends.add((await m.query('SELECT pg_backend_pid() AS pid'))[0].pid);
        // Both ways in: a statement of its own and a transaction of its own would otherwise commit apart.
        const [row] = await scope.statementForOrganization<{ pid: number }>(orgA, () => `UPDATE stored_files SET original_name = 'inner.pdf' RETURNING pg_backend_pid() AS pid`);
        backends.add(row!.pid);
        await scope.forOrganization(orgA, async (inner) => backends.add((await inner.query('SELECT pg_backend_pid() AS pid'))[0].pid));
        expect((await names()).every((r: { original_name: string }) => r.original_name !== 'inner.pdf')).toBe(true);
        throw new Error('the outer work failed');
      }),
    ).rejects.toThrow('the outer work failed');
    expect(backends.size).toBe(1);
    expect(await names()).toEqual(before);
  });

  it("refuses another organization's work inside a transaction, and lets work that outlives one start its own", async () => {
    await expect(scope.forOrganization(orgA, () => scope.forOrganization(orgB, (m) => m.query('SELECT 1')))).rejects.toThrow(/another organization/);
    let later: Promise<unknown> | undefined;
    let outerPid = 0;
    await scope.forOrganization(orgA, async (m) => {
      outerPid = (await m.query('SELECT pg_backend_pid() AS pid'))[0].pid;
      later = new Promise((resolve) => setTimeout(resolve, 50)).then(() => scope.statementForOrganization<{ n: number }>(orgA, () => 'SELECT count(*)::int AS n FROM stored_files'));
    });
    // Started inside, run after the commit: a transaction of its own, still confined to the organization.
    expect(await later).toEqual([{ n: 2 }]);
    expect(outerPid).toBeGreaterThan(0);
  });

  it('runs afterCommit work once the outermost transaction has committed, once however often asked, never after a rollback', async () => {
    const seen: string[] = [];
    const wait = async () => {
      // After the commit, with the connection back: another connection sees the write.
      const rows = await admin.query("SELECT original_name FROM stored_files WHERE organization_id = $1 AND original_name = 'committed.pdf'", [orgA]);
      seen.push(`after commit, ${rows.rowCount} row(s) visible`);
    };
    await scope.forOrganization(orgA, async (m) => {
      await m.query(`UPDATE stored_files SET original_name = 'committed.pdf' WHERE id = (SELECT min(id) FROM stored_files)`);
      await scope.forOrganization(orgA, async () => scope.afterCommit(orgA, wait));
      scope.afterCommit(orgA, wait);
      seen.push('work done');
    });
    expect(seen).toEqual(['work done', 'after commit, 1 row(s) visible']);
    await expect(
      scope.forOrganization(orgA, async () => {
        scope.afterCommit(orgA, wait);
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(seen).toHaveLength(2);
    expect(() => scope.afterCommit(orgA, wait)).toThrow(/inside forOrganization/);
  });

  it('notifies an update or delete of a resource, or of its links, when it commits, and nothing for a create or a rollback', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const notices: string[] = [];
    listener.on('notification', (n) => notices.push(n.payload!));
    await listener.query('LISTEN fhir_resource_changed');
    try {
      await expect(
        scope.forOrganization(orgA, async (m) => {
          await m.query(`UPDATE fhir_resources SET resource = '{"rolled": "back"}' WHERE id = 'doc1'`);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await scope.forOrganization(orgB, (m) =>
        m.query(`INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, resource) VALUES ($1, 'Patient', 'new1', 1, now(), '{}')`, [orgB]),
      );
      await scope.forOrganization(orgA, (m) => m.query(`UPDATE fhir_file_links SET original_name = original_name WHERE resource_id = 'doc1'`));
      await scope.forOrganization(orgB, (m) => m.query(`DELETE FROM fhir_resources WHERE id = 'new1'`));
      // A round trip on the listening connection: every notice committed before it has arrived.
      await listener.query('SELECT 1');
      expect(notices).toEqual([`${orgA}/DocumentReference/doc1`, `${orgB}/Patient/new1`]);
    } finally {
      await listener.end();
    }
  });

  it('rolls back the work of a failed transaction, and keeps nested transactions inside it', async () => {
    const names = () => admin.query('SELECT id, original_name FROM stored_files WHERE organization_id = $1 ORDER BY id', [orgA]).then((r) => r.rows);
    const before = await names();
    await expect(
      scope.forOrganization(orgA, async (m) => {
        await m.query(`UPDATE stored_files SET original_name = 'lost.pdf'`);
        throw new Error('the work failed');
      }),
    ).rejects.toThrow('the work failed');
    await scope.forOrganization(orgA, (m) =>
      m.transaction(async (inner) => {
        // A savepoint of the same transaction: the setting still applies.
        expect(await inner.query('SELECT count(*)::int AS n FROM stored_files')).toEqual([{ n: 2 }]);
      }),
    );
    expect(await names()).toEqual(before);
  });

  it("connects as the service role, which neither owns the tables nor bypasses row-level security", async () => {
    const [who] = await dataSource.query(
      `SELECT current_user AS "currentUser", r.rolsuper AS superuser, r.rolbypassrls AS bypass FROM pg_roles r WHERE r.rolname = current_user`,
    );
    expect(who).toEqual({ currentUser: SERVICE_ROLE, superuser: false, bypass: false });
    const owners: Array<{ tableowner: string; rowsecurity: boolean; forced: boolean }> = await dataSource.query(
      `SELECT t.tableowner, t.rowsecurity, c.relforcerowsecurity AS forced FROM pg_tables t JOIN pg_class c ON c.oid = (quote_ident(t.tablename))::regclass
        WHERE t.schemaname = current_schema() AND t.tablename = ANY($1::text[])`,
      [TABLES],
    );
    expect(owners).toHaveLength(TABLES.length);
    for (const o of owners) expect(o).toEqual({ tableowner: expect.not.stringMatching(`^${SERVICE_ROLE}$`), rowsecurity: true, forced: true });
    // The configuration's default is the role the migration creates.
    expect(loadConfig({}).databaseServiceRole).toBe(SERVICE_ROLE);
  });

  it('refuses to start as a role that row-level security does not apply to, or one it cannot act as', async () => {
    // The test cluster's login is a superuser: without SET ROLE, the wall would be down.
    await expect(boot(db.url, { DATABASE_SERVICE_ROLE: '' })).rejects.toThrow(/superuser or BYPASSRLS role that row-level security does not apply to/);
    await expect(boot(db.url, { DATABASE_SERVICE_ROLE: 'no_such_role_for_attachments' })).rejects.toThrow(
      /cannot act as the role no_such_role_for_attachments \(DATABASE_SERVICE_ROLE\)/,
    );
  });

  async function seedLinksAndReleasesAgain(organizationId: string): Promise<void> {
    for (const n of [1, 2]) {
      await admin.query(
        `INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id) VALUES ($1, $2 || '.pdf', 'DocumentReference', $3)`,
        [organizationId, `file${n}`, `doc${n}`],
      );
      await admin.query('INSERT INTO fhir_file_releases (organization_id, file_name) VALUES ($1, $2)', [organizationId, `released${n}.pdf`]);
    }
  }
});
