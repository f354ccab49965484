import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import { ConfigModule, loadConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { parseOrganizationId, type OrganizationId } from '@app/tenancy';
import { FsObjectStore } from '../../libs/file-storage/src/adapters/fs-object-store.js';
import { FsUrlSigner } from '../../libs/file-storage/src/adapters/fs-url-signer.js';
import { StoredFileEntity } from '../../libs/file-storage/src/adapters/stored-file.entity.js';
import { TypeOrmFileRecordRepository } from '../../libs/file-storage/src/adapters/typeorm-file-record.repository.js';
import { UnfinishedUploadSweeper } from '../../libs/file-storage/src/application/unfinished-upload.sweeper.js';
import { UploadExpiredError } from '../../libs/file-storage/src/domain/errors.js';
import { newFileId } from '../../libs/file-storage/src/domain/stored-file.js';
import { FileRecordRepository } from '../../libs/file-storage/src/ports/file-record.repository.port.js';
import { ObjectStore } from '../../libs/file-storage/src/ports/object-store.port.js';
import { newOrganizationId, tempDir, testDatabaseUrl } from '../support/environment.js';

let moduleRef: TestingModule;
let repository: FileRecordRepository;
let sweeper: UnfinishedUploadSweeper;
let objectsRoot: string;
let db: pg.Pool;

beforeAll(async () => {
  const dataDir = tempDir();
  objectsRoot = join(dataDir, 'objects');
  const config = loadConfig({ DATABASE_URL: testDatabaseUrl(), DATA_DIR: dataDir, JWT_SECRET: 'x'.repeat(32), PENDING_UPLOAD_TTL_SECONDS: '3600' });
  moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), TypeOrmModule.forFeature([StoredFileEntity])],
    providers: [
      { provide: FileRecordRepository, useClass: TypeOrmFileRecordRepository },
      { provide: ObjectStore, useValue: new FsObjectStore(objectsRoot, new FsUrlSigner('s'.repeat(32))) },
      UnfinishedUploadSweeper,
    ],
  }).compile();
  await moduleRef.init();
  repository = moduleRef.get(FileRecordRepository);
  sweeper = moduleRef.get(UnfinishedUploadSweeper);
  db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 1 });
});

afterAll(async () => {
  await moduleRef.close();
  await db.end();
});

const org = (): OrganizationId => parseOrganizationId(newOrganizationId())!;

function pendingRecord(organizationId: OrganizationId) {
  const id = newFileId();
  return { organizationId, id, fileName: `${id}.pdf`, originalName: 'lab.pdf', contentType: 'application/pdf', securityContext: null };
}

const facts = { size: 42, sha256: 'ab'.repeat(32), sha1: 'q6urq6urq6urq6urq6urq6urq6s=', scanStatus: 'not_scanned' as const, scanEngine: null };

describe('TypeOrmFileRecordRepository on PostgreSQL', () => {
  it('hides a pending file and shows it once marked available', async () => {
    const a = org();
    const record = pendingRecord(a);
    await repository.insertPending(record);
    expect(await repository.findAvailable(a, record.fileName)).toBeNull();

    const available = await repository.markAvailable(a, record.id, facts);
    expect(available).toMatchObject({ ...record, status: 'available', size: 42, sha256: facts.sha256, sha1: facts.sha1, scanStatus: 'not_scanned' });
    expect(available.createdAt).toBeInstanceOf(Date);
    expect(await repository.findAvailable(a, record.fileName)).toMatchObject({ id: record.id, size: 42 });
  });

  it('never returns another organization file', async () => {
    const [a, b] = [org(), org()];
    const record = pendingRecord(a);
    await repository.insertPending(record);
    await repository.markAvailable(a, record.id, facts);

    expect(await repository.findAvailable(b, record.fileName)).toBeNull();
    expect(await repository.findDeletable(b, record.fileName)).toBeNull();
    await repository.markDeleting(b, record.id);
    await repository.remove(b, record.id);
    expect(await repository.findAvailable(a, record.fileName)).not.toBeNull();
  });

  it('refuses to mark available twice or for another organization', async () => {
    const a = org();
    const record = pendingRecord(a);
    await repository.insertPending(record);
    await expect(repository.markAvailable(org(), record.id, facts)).rejects.toBeInstanceOf(UploadExpiredError);
    await repository.markAvailable(a, record.id, facts);
    await expect(repository.markAvailable(a, record.id, facts)).rejects.toBeInstanceOf(UploadExpiredError);
  });

  describe('with a rider (work that commits with the mark or not at all)', () => {
    /** A rider whose expression is `sql`, remembering how its statement ended; it answers its own error for any failure. */
    const riderOf = (sql: string) => {
      const settled: unknown[] = [];
      return {
        settled,
        expression: () => sql,
        settle: (error?: unknown) => {
          settled.push(error ?? 'committed');
          return error === undefined ? undefined : new Error('the statement failed', { cause: error });
        },
      };
    };
    // Volatile, so it fails only when run: Postgres folds a constant expression such as 1 / 0 while planning, row or no row.
    const FAILS_WHEN_RUN = '1 / floor(random())::int';
    const rowOf = async (id: string) =>
      (await db.query<{ status: string; tx: string }>('SELECT status, xmin::text AS tx FROM stored_files WHERE id = $1', [id])).rows[0];

    beforeAll(async () => {
      // A side effect the expression leaves, with the transaction that left it (SECURITY DEFINER: the service's role may not write here).
      await db.query('CREATE TABLE IF NOT EXISTS rider_witness (file_id text PRIMARY KEY, tx text NOT NULL)');
      await db.query(`CREATE OR REPLACE FUNCTION rider_witness_add(file text) RETURNS void LANGUAGE sql SECURITY DEFINER
                        AS $$ INSERT INTO rider_witness VALUES (file, pg_current_xact_id()::text) $$`);
    });

    it('runs its expression once, in the transaction that writes the mark, and then hears that it committed', async () => {
      const a = org();
      const record = pendingRecord(a);
      await repository.insertPending(record);
      const rider = riderOf(`rider_witness_add('${record.id}')`);
      await expect(repository.markAvailable(a, record.id, facts, rider)).resolves.toMatchObject({ id: record.id, status: 'available', size: 42 });
      expect(rider.settled).toEqual(['committed']);
      const witnessed = (await db.query<{ tx: string }>('SELECT tx FROM rider_witness WHERE file_id = $1', [record.id])).rows;
      expect(witnessed).toEqual([{ tx: (await rowOf(record.id))!.tx }]);
    });

    it('leaves the file pending when its expression fails, and throws what the rider makes of the error', async () => {
      const a = org();
      const record = pendingRecord(a);
      await repository.insertPending(record);
      const rider = riderOf(FAILS_WHEN_RUN);
      await expect(repository.markAvailable(a, record.id, facts, rider)).rejects.toThrow('the statement failed');
      expect(rider.settled).toEqual([expect.objectContaining({ message: expect.stringMatching(/division by zero/) })]);
      expect((await rowOf(record.id))!.status).toBe('pending');
    });

    it('never runs its expression for an upload that is no longer pending', async () => {
      const a = org();
      const record = pendingRecord(a);
      await repository.insertPending(record);
      await repository.markAvailable(a, record.id, facts);
      const rider = riderOf(FAILS_WHEN_RUN);
      await expect(repository.markAvailable(a, record.id, facts, rider)).rejects.toThrow('the statement failed');
      expect(rider.settled).toEqual([expect.any(UploadExpiredError)]);
    });
  });

  it('stops serving a file as soon as it is marked deleting', async () => {
    const a = org();
    const record = pendingRecord(a);
    await repository.insertPending(record);
    await repository.markAvailable(a, record.id, facts);
    await repository.markDeleting(a, record.id);
    expect(await repository.findAvailable(a, record.fileName)).toBeNull();
    expect(await repository.findDeletable(a, record.fileName)).toMatchObject({ id: record.id, status: 'deleting' });
  });

  it('lets the schema refuse an available row without size and hash', async () => {
    await expect(
      db.query(
        `INSERT INTO stored_files (organization_id, id, file_name, original_name, content_type, status, scan_status)
         VALUES ($1, $2, $3, 'x.pdf', 'application/pdf', 'available', 'not_scanned')`,
        [newOrganizationId(), newFileId(), `${newFileId()}.pdf`],
      ),
    ).rejects.toThrow(/check constraint/);
  });
});

describe('UnfinishedUploadSweeper', () => {
  async function ageRow(organizationId: string, id: string, hours: number): Promise<void> {
    await db.query(`UPDATE stored_files SET updated_at = now() - make_interval(hours => $3) WHERE organization_id = $1 AND id = $2`, [organizationId, id, hours]);
  }

  async function writeObject(organizationId: string, fileName: string): Promise<string> {
    const path = join(objectsRoot, organizationId, fileName);
    await mkdir(join(objectsRoot, organizationId), { recursive: true });
    await writeFile(path, 'partial');
    return path;
  }

  it('removes bytes and rows of uploads left pending or deleting past the TTL, and nothing else', async () => {
    const a = org();
    const stalePending = pendingRecord(a);
    const staleDeleting = pendingRecord(a);
    const freshPending = pendingRecord(a);
    const available = pendingRecord(a);
    for (const r of [stalePending, staleDeleting, freshPending, available]) await repository.insertPending(r);
    await repository.markAvailable(a, staleDeleting.id, facts);
    await repository.markDeleting(a, staleDeleting.id);
    await repository.markAvailable(a, available.id, facts);
    const paths = await Promise.all([stalePending, staleDeleting, freshPending, available].map((r) => writeObject(a, r.fileName)));
    await ageRow(a, stalePending.id, 2);
    await ageRow(a, staleDeleting.id, 2);
    await ageRow(a, available.id, 2);

    await sweeper.sweep();

    const { rows } = await db.query('SELECT id FROM stored_files WHERE organization_id = $1 ORDER BY id', [a]);
    expect(rows.map((r) => r.id).sort()).toEqual([freshPending.id, available.id].sort());
    expect(paths.map((p) => existsSync(p))).toEqual([false, false, true, true]);
  });

  it('lets a held upload, checked but pending, be confirmed all or none, never after the sweeper took one', async () => {
    const a = org();
    const [held, stale] = [pendingRecord(a), pendingRecord(a)];
    for (const r of [held, stale]) {
      await repository.insertPending(r);
      expect(await repository.markChecked(a, r.id, facts)).toMatchObject({ id: r.id, status: 'pending', size: 42 });
    }
    expect(await repository.findAvailable(a, held.fileName)).toBeNull();
    await ageRow(a, stale.id, 2);
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);

    await expect(repository.confirm(a, [held.id, stale.id])).rejects.toBeInstanceOf(UploadExpiredError);
    // Refused as a whole: the caller's transaction rolls back what its statement changed.
    await expect(repository.confirm(org(), [held.id])).rejects.toBeInstanceOf(UploadExpiredError);
    await repository.confirm(a, [held.id]);
    expect(await repository.findAvailable(a, held.fileName)).toMatchObject({ id: held.id, size: 42 });
  });

  it('claims a stale upload so that it can no longer become available', async () => {
    const a = org();
    const slow = pendingRecord(a);
    await repository.insertPending(slow);
    await ageRow(a, slow.id, 2);

    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);

    await expect(repository.markAvailable(a, slow.id, facts)).rejects.toBeInstanceOf(UploadExpiredError);
    expect(await repository.findDeletable(a, slow.fileName)).toBeNull();
  });
});
