import type { MigrationInterface, QueryRunner } from 'typeorm';
import { RESOURCE_CHANGES_CHANNEL } from '../change-feed.js';

/**
 * Every update or delete of a FHIR resource, and every update or delete of
 * a link of its files, notifies `<org>/<type>/<id>` of the resource on the
 * channel the replicas' ChangeFeed listens to, when its transaction commits.
 * In a trigger, so that no statement that changes them, today's or a future
 * one's, can forget to. Creates notify nothing: no replica keeps a resource
 * it did not find (and links are only added with a write of their resource's
 * row). Organization ids, types and FHIR ids have no `/`.
 */
export class NotifyResourceChanges1765000000000 implements MigrationInterface {
  name = 'NotifyResourceChanges1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION notify_resource_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        changed record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
      BEGIN
        IF TG_TABLE_NAME = 'fhir_resources' THEN
          PERFORM pg_notify('${RESOURCE_CHANGES_CHANNEL}', changed.organization_id || '/' || changed.resource_type || '/' || changed.id);
        ELSE
          PERFORM pg_notify('${RESOURCE_CHANGES_CHANNEL}', changed.organization_id || '/' || changed.resource_type || '/' || changed.resource_id);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER fhir_resources_notify AFTER UPDATE OR DELETE ON fhir_resources FOR EACH ROW EXECUTE FUNCTION notify_resource_changed()`);
    await q.query(
      `CREATE TRIGGER fhir_file_links_notify AFTER UPDATE OR DELETE ON fhir_file_links FOR EACH ROW EXECUTE FUNCTION notify_resource_changed()`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER fhir_file_links_notify ON fhir_file_links');
    await q.query('DROP TRIGGER fhir_resources_notify ON fhir_resources');
    await q.query('DROP FUNCTION notify_resource_changed()');
  }
}
