import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ORGANIZATION_SETTING, SERVICE_ROLE } from '../row-level-security.js';

/**
 * The audit trail: one row per FHIR AuditEvent, append-only in the database
 * itself, each row's hash chained to the previous event of its organization.
 *
 * - `audit_event_hash(prev, event)` is the one definition of the chain (the first
 *   event of an organization has no prev): the
 *   insert and the verification (`npm run audit:verify`) both call it. It
 *   hashes jsonb's own text form, which Postgres writes the same way every time.
 * - A trigger refuses UPDATE, DELETE and TRUNCATE for every role, the owner
 *   included; the service's role is granted SELECT and INSERT only.
 * - Row-level security as on the other tables: a transaction sees and writes
 *   only the events of the organization it set in `app.organization_id`.
 */
export class CreateAuditEvents1764400000000 implements MigrationInterface {
  name = 'CreateAuditEvents1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_events (
        seq bigserial PRIMARY KEY,
        organization_id text NOT NULL,
        id uuid NOT NULL UNIQUE,
        recorded timestamptz NOT NULL,
        type text NOT NULL,
        subtype text NOT NULL,
        outcome text NOT NULL,
        agent text,
        patient text,
        entities text[] NOT NULL DEFAULT '{}',
        event jsonb NOT NULL,
        prev_hash text,
        hash text NOT NULL
      )`);
    await q.query('CREATE INDEX audit_events_by_organization_recorded ON audit_events (organization_id, recorded DESC, seq DESC)');
    await q.query('CREATE INDEX audit_events_by_organization_seq ON audit_events (organization_id, seq DESC)');
    await q.query('CREATE INDEX audit_events_entities ON audit_events USING gin (entities)');
    await q.query(`
      CREATE FUNCTION audit_event_hash(prev text, event jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT encode(sha256(convert_to(coalesce(prev, '') || event::text, 'UTF8')), 'hex') $$`);
    // Appends a batch of events to one organization's chain, in order, under that chain's lock:
    // concurrent requests' events are written together (group commit), each linked to the one before.
    // Every statement of a plpgsql function reads committed data as of its own start, so the head
    // read after the lock is the chain's real head.
    await q.query(`
      CREATE FUNCTION audit_append(org text, batch jsonb) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        head text;
        item jsonb;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended('audit_events/' || org, 0));
        SELECT hash INTO head FROM audit_events WHERE organization_id = org ORDER BY seq DESC LIMIT 1;
        FOR item IN SELECT value FROM jsonb_array_elements(batch) LOOP
          INSERT INTO audit_events (organization_id, id, recorded, type, subtype, outcome, agent, patient, entities, event, prev_hash, hash)
          VALUES (org, (item->>'id')::uuid, (item->>'recorded')::timestamptz, item->>'type', item->>'subtype', item->>'outcome',
                  item->>'agent', item->>'patient', ARRAY(SELECT jsonb_array_elements_text(item->'entities')),
                  item->'event', head, audit_event_hash(head, item->'event'))
          RETURNING hash INTO head;
        END LOOP;
      END $$`);
    await q.query(`
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`);
    await q.query(`
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`);
    await q.query('ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY');
    await q.query('ALTER TABLE audit_events FORCE ROW LEVEL SECURITY');
    await q.query(`
      CREATE POLICY audit_events_of_organization ON audit_events
        USING (organization_id = current_setting('${ORGANIZATION_SETTING}', true))
        WITH CHECK (organization_id = current_setting('${ORGANIZATION_SETTING}', true))`);
    // The service's role (created by the row-level security migration) reads and appends, nothing more.
    await q.query(`GRANT SELECT, INSERT ON audit_events TO ${SERVICE_ROLE}`);
    await q.query(`GRANT USAGE ON SEQUENCE audit_events_seq_seq TO ${SERVICE_ROLE}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE audit_events');
    await q.query('DROP FUNCTION audit_events_append_only()');
    await q.query('DROP FUNCTION audit_append(text, jsonb)');
    await q.query('DROP FUNCTION audit_event_hash(text, jsonb)');
  }
}
