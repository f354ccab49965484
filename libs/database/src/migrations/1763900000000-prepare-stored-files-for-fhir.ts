import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What linking files from FHIR resources needs: Attachment.hash is a base64
 * SHA-1 (recorded at upload, so objects are never read back for it), and the
 * orphan sweeper lists available files by age.
 */
export class PrepareStoredFilesForFhir1763900000000 implements MigrationInterface {
  name = 'PrepareStoredFilesForFhir1763900000000';

  async up(q: QueryRunner): Promise<void> {
    // Nullable: files stored before this migration have no SHA-1; their attachments omit `hash`.
    await q.query('ALTER TABLE stored_files ADD COLUMN sha1 text');
    // The orphan sweeper walks available files oldest first.
    await q.query(`CREATE INDEX stored_files_available_age ON stored_files (created_at, organization_id, id) WHERE status = 'available'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX stored_files_available_age');
    await q.query('ALTER TABLE stored_files DROP COLUMN sha1');
  }
}
