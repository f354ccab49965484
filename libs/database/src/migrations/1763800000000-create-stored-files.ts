import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateStoredFiles1763800000000 implements MigrationInterface {
  name = 'CreateStoredFiles1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE stored_files (
        organization_id text        NOT NULL,
        id              text        NOT NULL,
        file_name       text        NOT NULL,
        original_name   text        NOT NULL,
        content_type    text        NOT NULL,
        status          text        NOT NULL CHECK (status IN ('pending', 'available', 'deleting')),
        size            bigint      CHECK (size >= 0),
        sha256          text,
        scan_status     text        NOT NULL CHECK (scan_status IN ('pending', 'not_scanned', 'clean')),
        scan_engine     text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (organization_id, id),
        UNIQUE (organization_id, file_name),
        CHECK (status <> 'available' OR (size IS NOT NULL AND sha256 IS NOT NULL))
      )`);
    // The sweeper looks for uploads that never became available.
    await q.query(`CREATE INDEX stored_files_unfinished ON stored_files (updated_at) WHERE status <> 'available'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE stored_files');
  }
}
