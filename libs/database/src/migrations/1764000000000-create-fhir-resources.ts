import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateFhirResources1764000000000 implements MigrationInterface {
  name = 'CreateFhirResources1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE fhir_resources (
        organization_id text        NOT NULL,
        resource_type   text        NOT NULL,
        id              text        NOT NULL,
        version_id      integer     NOT NULL CHECK (version_id > 0),
        last_updated    timestamptz NOT NULL,
        subject_type    text,
        subject_id      text,
        resource        jsonb       NOT NULL,
        PRIMARY KEY (organization_id, resource_type, id)
      )`);
    // Search: by last update (the default order and _lastUpdated), and by subject/patient.
    await q.query('CREATE INDEX fhir_resources_last_updated ON fhir_resources (organization_id, resource_type, last_updated, id)');
    await q.query('CREATE INDEX fhir_resources_subject ON fhir_resources (organization_id, resource_type, subject_id) WHERE subject_id IS NOT NULL');

    // Which resource links which file. stored_files belongs to another module: no foreign key to it.
    await q.query(`
      CREATE TABLE fhir_file_links (
        organization_id text NOT NULL,
        file_name       text NOT NULL,
        resource_type   text NOT NULL,
        resource_id     text NOT NULL,
        PRIMARY KEY (organization_id, file_name, resource_type, resource_id),
        FOREIGN KEY (organization_id, resource_type, resource_id)
          REFERENCES fhir_resources (organization_id, resource_type, id) ON DELETE CASCADE
      )`);
    await q.query('CREATE INDEX fhir_file_links_resource ON fhir_file_links (organization_id, resource_type, resource_id)');

    // Files nothing links any more, from the moment that is decided until their deletion is done.
    await q.query(`
      CREATE TABLE fhir_file_releases (
        organization_id text        NOT NULL,
        file_name       text        NOT NULL,
        released_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (organization_id, file_name)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE fhir_file_releases');
    await q.query('DROP TABLE fhir_file_links');
    await q.query('DROP TABLE fhir_resources');
  }
}
