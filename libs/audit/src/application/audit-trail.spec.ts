import { jest } from '@jest/globals';
import { ServiceMetrics } from '@app/common';
import { loadConfig } from '@app/config';
import type { AuditLogStream } from '../adapters/audit-log-stream.js';
import { PostgresAuditStore } from '../adapters/postgres-audit-store.js';
import type { AuditRecord } from '../domain/audit-event.js';
import { AuditUnavailableError } from '../errors.js';
import type { AuditStore } from '../ports/audit-store.port.js';
import { AuditTrail } from './audit-trail.js';

const RECORD: AuditRecord = {
  action: 'create',
  outcome: { status: 201 },
  agent: { subject: 'dr-unit', organizationId: 'org-unit', sourceIp: '192.0.2.1' },
  entities: { file: 'org-unit/0123456789abcdef0123456789abcdef.pdf' },
  requestId: 'request-1',
  recorded: new Date('2026-12-01T00:00:00Z'),
};

/** The store's own test of whether an error is its append's: the real adapter's, on an error of its function. */
const OWN_FAILURE = Object.assign(new Error('relation "audit_events" does not exist'), {
  where: 'PL/pgSQL function audit_append(text,jsonb) line 8 at SQL statement\nSQL statement "SELECT audit_append(org, batch)"',
});

function setup(env: Record<string, string> = { AUDIT_REQUIRED: 'true' }) {
  const written: object[] = [];
  const stream = { write: jest.fn((event: object) => void written.push(event)) } as unknown as AuditLogStream;
  const appendAlong = jest.fn((_org: string, _event: object) => ({
    expression: () => 'audit_append_for(...)',
    failedIn: (error: unknown) => error === OWN_FAILURE,
  }));
  const store = { appendAlong } as unknown as AuditStore;
  const metrics = new ServiceMetrics();
  const trail = new AuditTrail(store, stream, metrics, loadConfig(env));
  const counted = async () => (await metrics.auditEvents.get()).values.map((v) => `${v.labels.outcome}=${v.value}`).sort();
  return { trail, stream, written, appendAlong, counted };
}

describe('AuditTrail.rider', () => {
  it('rides on writes only with AUDIT_REQUIRED: without it an access goes on when its record cannot be stored', () => {
    expect(setup({}).trail.ridesWrites).toBe(false);
    expect(setup({}).trail.rider(RECORD)).toBeUndefined();
    expect(setup({ AUDIT_REQUIRED: 'true' }).trail.ridesWrites).toBe(true);
  });

  it("appends to the record's organization's chain, and once the write committed streams and counts the event", async () => {
    const { trail, written, appendAlong, counted } = setup();
    const rider = trail.rider(RECORD)!;
    expect(appendAlong).toHaveBeenCalledWith('org-unit', expect.objectContaining({ resourceType: 'AuditEvent', recorded: RECORD.recorded.toISOString() }), expect.anything());
    expect(rider.expression((v) => v)).toBe('audit_append_for(...)');
    expect(written).toEqual([]);
    expect(rider.settle()).toBeUndefined();
    expect(written).toEqual([appendAlong.mock.calls[0]![1]]);
    expect(await counted()).toEqual(['stored=1']);
  });

  it('turns a failure of its own append into AuditUnavailableError (503), counted as failed', async () => {
    const { trail, written, counted } = setup();
    const error = trail.rider(RECORD)!.settle(OWN_FAILURE);
    expect(error).toBeInstanceOf(AuditUnavailableError);
    expect((error as Error).cause).toBe(OWN_FAILURE);
    expect(written).toEqual([]);
    expect(await counted()).toEqual(['failed=1']);
  });

  it("leaves the write's own failure as it is, uncounted: the access failed for another reason", async () => {
    const { trail, counted } = setup();
    const outage = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    expect(trail.rider(RECORD)!.settle(outage)).toBe(outage);
    expect(await counted()).toEqual([]);
  });

  it('never throws once the write committed, even when the stream does', () => {
    const { trail, stream } = setup();
    (stream.write as jest.Mock).mockImplementation(() => {
      throw new Error('disk full');
    });
    expect(trail.rider(RECORD)!.settle()).toBeUndefined();
  });
});

describe('PostgresAuditStore.appendAlong', () => {
  const along = new PostgresAuditStore(undefined as never).appendAlong('org-unit', { id: 'e', recorded: 'r' }, {
    type: 'rest',
    subtype: 'create',
    outcome: '0',
    entities: [],
  });

  it('calls audit_append_for with the organization and a batch of one, every value quoted', () => {
    const quoted: string[] = [];
    const sql = along.expression((v) => {
      quoted.push(v);
      return `<${quoted.length}>`;
    });
    expect(sql).toBe('audit_append_for(<1>, <2>::jsonb)');
    expect(quoted[0]).toBe('org-unit');
    expect(JSON.parse(quoted[1]!)).toEqual([{ type: 'rest', subtype: 'create', outcome: '0', entities: [], id: 'e', recorded: 'r', event: { id: 'e', recorded: 'r' } }]);
  });

  it.each([
    ['English', OWN_FAILURE.where, true],
    ['German', 'PL/pgSQL-Funktion audit_append(text,jsonb) Zeile 8 bei SQL-Anweisung', true],
    ['French', 'fonction PL/pgSQL audit_append_for(text,jsonb), ligne 4 à PERFORM', true],
    ['another function', 'PL/pgSQL function refuse_available() line 1 at RAISE', false],
    ['no context (a lost connection)', undefined, false],
  ])('tells its own failures by the function named in the context, in any server language: %s', (_language, where, own) => {
    expect(along.failedIn(Object.assign(new Error('x'), { where }))).toBe(own);
  });
});
