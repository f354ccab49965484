import type { MigrationInterface, QueryRunner } from 'typeorm';

/** GET /files lists an organization's available files newest first, a page at a time. */
export class ListFilesNewestFirst1764200000000 implements MigrationInterface {
  name = 'ListFilesNewestFirst1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX stored_files_by_organization_newest ON stored_files (organization_id, created_at DESC, id DESC) WHERE status = 'available'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX stored_files_by_organization_newest');
  }
}
