import type { MigrationInterface, QueryRunner } from 'typeorm';
import { CROSS_ORGANIZATION_SETTING, ORGANIZATION_SETTING, SERVICE_ROLE } from '../row-level-security.js';

/** Every table that holds organizations' rows, each with its `organization_id`. */
const TABLES = ['stored_files', 'fhir_resources', 'fhir_file_links', 'fhir_file_releases'];

const OF_ONE_ORGANIZATION = `organization_id = current_setting('${ORGANIZATION_SETTING}', true)
  OR current_setting('${CROSS_ORGANIZATION_SETTING}', true) = 'on'`;

/**
 * Row-level security, a second wall behind the `organization_id = $1` of every
 * query: the service acts as a role that is not the tables' owner and cannot
 * bypass row-level security, and a transaction sees and writes only the rows
 * of the organization it set in `app.organization_id` (or, on the one named
 * cross-organization path, every row: `app.cross_organization = 'on'`).
 *
 * Migrations run as the owner, which FORCE subjects to the policies as well:
 * a later migration that moves data sets `app.cross_organization` first.
 * Superusers are never subject to them.
 *
 * The role belongs to the cluster, not the database: several databases of one
 * cluster may create it at once, and the one that loses the race is fine.
 * Creating it needs CREATEROLE; without it, the role must exist beforehand
 * (the error says how). `down` leaves the role, which other databases may use.
 */
export class RowLevelSecurity1764300000000 implements MigrationInterface {
  name = 'RowLevelSecurity1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      DECLARE
        may_set boolean;
      BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${SERVICE_ROLE}') THEN
          BEGIN
            CREATE ROLE ${SERVICE_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- created meanwhile by another database's migration
            WHEN insufficient_privilege THEN
              RAISE EXCEPTION 'The migrating role % may not create the role ${SERVICE_ROLE} (that needs CREATEROLE). Have an '
                  'administrator run: CREATE ROLE ${SERVICE_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS; GRANT ${SERVICE_ROLE} TO %; '
                  'then run the migrations again', current_user, quote_ident(current_user)
                USING ERRCODE = 'insufficient_privilege';
          END;
        END IF;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${SERVICE_ROLE}' AND (rolsuper OR rolbypassrls)) THEN
          RAISE EXCEPTION 'The role ${SERVICE_ROLE} is a superuser or has BYPASSRLS, so row-level security would not apply '
              'to it: ALTER ROLE ${SERVICE_ROLE} NOSUPERUSER NOBYPASSRLS';
        END IF;
        -- The login role (the one migrating) must be able to SET ROLE to it: 'SET' since PostgreSQL 16, membership before.
        BEGIN
          may_set := pg_has_role(current_user, '${SERVICE_ROLE}', 'SET');
        EXCEPTION
          WHEN invalid_parameter_value THEN may_set := pg_has_role(current_user, '${SERVICE_ROLE}', 'MEMBER');
        END;
        IF NOT may_set THEN
          BEGIN
            EXECUTE format('GRANT ${SERVICE_ROLE} TO %I', current_user);
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL; -- granted meanwhile by another database's migration
            WHEN insufficient_privilege THEN
              RAISE EXCEPTION 'The migrating role % may not grant itself the role ${SERVICE_ROLE}. Have an administrator run: '
                  'GRANT ${SERVICE_ROLE} TO %; then run the migrations again', current_user, quote_ident(current_user)
                USING ERRCODE = 'insufficient_privilege';
          END;
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${SERVICE_ROLE}', current_schema());
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO ${SERVICE_ROLE}', current_schema());
      END $$`);
    await q.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${TABLES.join(', ')} TO ${SERVICE_ROLE}`);
    for (const table of TABLES) {
      await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q.query(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`);
      await q.query(`CREATE POLICY ${table}_of_one_organization ON ${table} USING (${OF_ONE_ORGANIZATION}) WITH CHECK (${OF_ONE_ORGANIZATION})`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of TABLES) {
      await q.query(`DROP POLICY ${table}_of_one_organization ON ${table}`);
      await q.query(`ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY`);
      await q.query(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
    }
    // The code before this migration connects as the owner; the role stays (see above), without its grants here.
    await q.query(`REVOKE SELECT, INSERT, UPDATE, DELETE ON ${TABLES.join(', ')} FROM ${SERVICE_ROLE}`);
    await q.query(`DO $$ BEGIN
      EXECUTE format('REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I FROM ${SERVICE_ROLE}', current_schema());
      EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM ${SERVICE_ROLE}', current_schema());
    END $$`);
  }
}
