import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CROSS_ORGANIZATION_SETTING } from '../row-level-security.js';

/**
 * A link's security_context is always its file's, whichever version of the
 * service writes the link: a trigger copies it from stored_files on every
 * insert or update of a link. During a rolling update, replicas of the
 * version before 1764700000000 keep writing links without it, and the
 * attachment route, which trusts a link's facts, would then serve a file its
 * securityContext closes. The links such replicas wrote meanwhile are filled
 * in again here.
 */
export class LinksTakeSecurityContextFromFiles1764800000000 implements MigrationInterface {
  name = 'LinksTakeSecurityContextFromFiles1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION fhir_file_link_security_context() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.security_context := (SELECT f.security_context FROM stored_files f
                                  WHERE f.organization_id = NEW.organization_id AND f.file_name = NEW.file_name);
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER fhir_file_link_security_context BEFORE INSERT OR UPDATE ON fhir_file_links
        FOR EACH ROW EXECUTE FUNCTION fhir_file_link_security_context()`);
    // Row-level security applies to the owner as well (FORCE): this data move spans organizations.
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'on', true)`);
    await q.query(`
      UPDATE fhir_file_links l SET security_context = f.security_context
        FROM stored_files f
       WHERE f.organization_id = l.organization_id AND f.file_name = l.file_name AND f.security_context IS NOT NULL`);
    await q.query(`SELECT set_config('${CROSS_ORGANIZATION_SETTING}', 'off', true)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER fhir_file_link_security_context ON fhir_file_links');
    await q.query('DROP FUNCTION fhir_file_link_security_context()');
  }
}
