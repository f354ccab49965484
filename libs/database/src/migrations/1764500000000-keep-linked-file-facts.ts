import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CROSS_ORGANIZATION_SETTING } from '../row-level-security.js';

/**
 * A link from a resource to a file keeps the file's content type and
 * original name: what a signed URL for it needs. They never change once a
 * file is stored, and a linked file cannot be deleted, so an attachment's 307
 * reads the resource and its links in one statement instead of looking the
 * file up as well. Existing links are filled in from their files; a link
 * whose file row is gone keeps nulls, and is looked up (and not found) as before.
 */
export class KeepLinkedFileFacts1764500000000 implements MigrationInterface {
  name = 'KeepLinkedFileFacts1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE fhir_file_links ADD COLUMN content_type text, ADD COLUMN original_name text');
    // Row-level security applies to the owner as well (FORCE): this data move spans organizations.
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'on', true)`);
    await q.query(`
      UPDATE fhir_file_links l SET content_type = f.content_type, original_name = f.original_name
        FROM stored_files f
       WHERE f.organization_id = l.organization_id AND f.file_name = l.file_name`);
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'off', true)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE fhir_file_links DROP COLUMN content_type, DROP COLUMN original_name');
  }
}
