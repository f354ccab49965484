import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A release is kept for a while after its file is deleted: a request that
 * found the file available just before could otherwise link it after the
 * release row is gone. Tombstones older than any request are purged.
 */
export class KeepFileReleaseTombstones1764100000000 implements MigrationInterface {
  name = 'KeepFileReleaseTombstones1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE fhir_file_releases ADD COLUMN deleted_at timestamptz');
    await q.query('CREATE INDEX fhir_file_releases_pending ON fhir_file_releases (released_at) WHERE deleted_at IS NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX fhir_file_releases_pending');
    await q.query('ALTER TABLE fhir_file_releases DROP COLUMN deleted_at');
  }
}
