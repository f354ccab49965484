import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { ConfigModule, loadConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { MIGRATIONS } from '../../libs/database/src/migrations/index.js';
import { tempDir, testDatabaseUrl } from '../support/environment.js';

/** A new, empty database on the test server, so migrations start from nothing. */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `migrations_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Read as the login role: the migrations table is the owner's, not the service role's. */
async function appliedMigrations(url: string): Promise<Array<{ name: string }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT name FROM migrations ORDER BY id')).rows;
  } finally {
    await client.end();
  }
}

function boot(url: string, env: Record<string, string> = {}) {
  const config = loadConfig({ DATABASE_URL: url, DATA_DIR: tempDir(), JWT_SECRET: 'x'.repeat(32), ...env });
  return Test.createTestingModule({ imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config)] }).compile();
}

describe('migrations', () => {
  it('apply exactly once when several instances boot at the same time', async () => {
    const db = await freshDatabase();
    try {
      const instances = await Promise.all([boot(db.url), boot(db.url), boot(db.url)]);
      const dataSource = instances[0]!.get(DataSource);
      expect(await appliedMigrations(db.url)).toEqual(MIGRATIONS.map((m) => ({ name: m.name })));
      for (const table of ['stored_files', 'fhir_resources', 'fhir_file_links', 'fhir_file_releases']) {
        expect(await dataSource.query(`SELECT to_regclass($1) AS t`, [table])).toEqual([{ t: table }]);
      }
      await Promise.all(instances.map((i) => i.close()));
    } finally {
      await db.drop();
    }
  });
});

describe('keeping linked files\' facts (1764500000000)', () => {
  it('fills in the facts of links made before it, and leaves a link whose file row is gone without them', async () => {
    const db = await freshDatabase();
    const migrate = async (migrations: typeof MIGRATIONS) => {
      const source = new DataSource({ type: 'postgres', url: db.url, migrations: [...migrations], migrationsTransactionMode: 'each' });
      await source.initialize();
      await source.runMigrations();
      return source;
    };
    try {
      // Every migration before this one: the later ones change tables it does not touch.
      const before = await migrate(MIGRATIONS.slice(0, MIGRATIONS.findIndex((m) => m.name === 'KeepLinkedFileFacts1764500000000')));
      await before.transaction(async (m) => {
        await m.query("SELECT set_config('app.cross_organization', 'on', true)");
        await m.query(`INSERT INTO stored_files (organization_id, id, file_name, original_name, content_type, status, size, sha256, scan_status)
                       VALUES ('org-a', 'f1', 'f1.pdf', 'Befund März.pdf', 'application/pdf', 'available', 3, 'x', 'not_scanned')`);
        await m.query(`INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, resource)
                       VALUES ('org-a', 'Consent', 'c1', 1, now(), '{}')`);
        await m.query(`INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id)
                       VALUES ('org-a', 'f1.pdf', 'Consent', 'c1'), ('org-a', 'gone.png', 'Consent', 'c1')`);
      });
      await before.destroy();
      const after = await migrate(MIGRATIONS);
      const links = await after.transaction(async (m) => {
        await m.query("SELECT set_config('app.cross_organization', 'on', true)");
        return m.query('SELECT file_name, content_type, original_name FROM fhir_file_links ORDER BY file_name');
      });
      expect(links).toEqual([
        { file_name: 'f1.pdf', content_type: 'application/pdf', original_name: 'Befund März.pdf' },
        { file_name: 'gone.png', content_type: null, original_name: null },
      ]);
      await after.destroy();
    } finally {
      await db.drop();
    }
  });
});

describe("links take their file's securityContext (1764800000000)", () => {
  it('fills it in whatever a writer sends, as a replica of the previous version writes links during a rolling update', async () => {
    const db = await freshDatabase();
    const source = new DataSource({ type: 'postgres', url: db.url, migrations: [...MIGRATIONS], migrationsTransactionMode: 'each' });
    await source.initialize();
    try {
      await source.runMigrations();
      const links = await source.transaction(async (m) => {
        await m.query("SELECT set_config('app.organization_id', 'org-a', true)");
        await m.query(`INSERT INTO stored_files (organization_id, id, file_name, original_name, content_type, status, size, sha256, scan_status, security_context)
                       VALUES ('org-a', 'f1', 'f1.pdf', 'r.pdf', 'application/pdf', 'available', 3, 'x', 'not_scanned', 'Patient/p-1'),
                              ('org-a', 'f2', 'f2.pdf', 'r.pdf', 'application/pdf', 'available', 3, 'x', 'not_scanned', NULL)`);
        await m.query(`INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, resource)
                       VALUES ('org-a', 'Consent', 'c1', 1, now(), '{}')`);
        // The previous version's insert: facts without the context; and a writer that claims another one.
        await m.query(`INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id, content_type, original_name)
                       VALUES ('org-a', 'f1.pdf', 'Consent', 'c1', 'application/pdf', 'r.pdf')`);
        await m.query(`INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id, content_type, original_name, security_context)
                       VALUES ('org-a', 'f2.pdf', 'Consent', 'c1', 'application/pdf', 'r.pdf', 'Patient/forged')`);
        return m.query('SELECT file_name, security_context FROM fhir_file_links ORDER BY file_name');
      });
      expect(links).toEqual([
        { file_name: 'f1.pdf', security_context: 'Patient/p-1' },
        { file_name: 'f2.pdf', security_context: null },
      ]);
    } finally {
      await source.destroy();
      await db.drop();
    }
  });
});

describe('the migration command (npm run migrate)', () => {
  it('migrates a fresh database, and replicas with MIGRATE_ON_START=false start on it without migrating', async () => {
    const db = await freshDatabase();
    try {
      const idle = await boot(db.url, { MIGRATE_ON_START: 'false' });
      expect(await idle.get(DataSource).query(`SELECT to_regclass('migrations') AS t`)).toEqual([{ t: null }]);
      await idle.close();

      const { stdout } = await promisify(execFile)(process.execPath, ['dist/apps/api/src/migrate.js'], {
        env: { PATH: process.env.PATH, DATABASE_URL: db.url, JWT_SECRET: 'x'.repeat(32) },
      });
      expect(stdout).toContain('Migrations applied');
      const replica = await boot(db.url, { MIGRATE_ON_START: 'false' });
      expect(await appliedMigrations(db.url)).toEqual(MIGRATIONS.map((m) => ({ name: m.name })));
      await replica.close();
    } finally {
      await db.drop();
    }
  });

  it('fails with a message, not a stack, when DATABASE_URL is missing', async () => {
    const run = promisify(execFile)(process.execPath, ['dist/apps/api/src/migrate.js'], { env: { PATH: process.env.PATH } });
    await expect(run).rejects.toMatchObject({ stderr: expect.stringContaining('DATABASE_URL is not set') });
  });
});
