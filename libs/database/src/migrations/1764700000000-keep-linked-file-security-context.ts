import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CROSS_ORGANIZATION_SETTING } from '../row-level-security.js';

/**
 * A link keeps its file's securityContext with the other facts it copies (see
 * 1764500000000): an attachment's 307 checks it without looking the file up,
 * whichever way the resource links the file (Binary/<id> or /files/...). It
 * never changes once a file is stored. Links made since the column came to
 * stored_files get it from their files.
 */
export class KeepLinkedFileSecurityContext1764700000000 implements MigrationInterface {
  name = 'KeepLinkedFileSecurityContext1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE fhir_file_links ADD COLUMN security_context text');
    // Row-level security applies to the owner as well (FORCE): this data move spans organizations.
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'on', true)`);
    await q.query(`
      UPDATE fhir_file_links l SET security_context = f.security_context
        FROM stored_files f
       WHERE f.organization_id = l.organization_id AND f.file_name = l.file_name AND f.security_context IS NOT NULL`);
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'off', true)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE fhir_file_links DROP COLUMN security_context');
  }
}
