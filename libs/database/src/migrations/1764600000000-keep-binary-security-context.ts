import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A file may be stored with a security context: the reference (`Type/id`) of
 * a resource whose readers alone may read it (FHIR's Binary.securityContext).
 * Null for every file stored so far, and for any stored without one.
 */
export class KeepBinarySecurityContext1764600000000 implements MigrationInterface {
  name = 'KeepBinarySecurityContext1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE stored_files ADD COLUMN security_context text');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE stored_files DROP COLUMN security_context');
  }
}
