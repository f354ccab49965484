import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import { AppConfig } from '@app/config';

/** The channel migration 1765000000000's triggers notify, with `<org>/<type>/<id>` of a FHIR resource updated or deleted. */
export const RESOURCE_CHANGES_CHANNEL = 'fhir_resource_changed';

/**
 * How long a replica may go without proof that it has seen every change
 * committed until then, and so how long a change waits after its commit
 * before it is answered (ChangeFeed.seenEverywhere).
 */
export const CHANGE_HORIZON_MS = 200;
/** How often a replica proves it is caught up: several proofs per horizon, so one late answer does not cost it its cache. */
const HEARTBEAT_MS = 40;
const RECONNECT_MS = 1000;

export type ChangeListener = {
  /** A row named `key` changed, or was deleted. */
  changed(key: string): void;
  /** Changes may have been missed (the listening connection is gone): forget everything learnt so far. */
  lost(): void;
};

/**
 * What every replica learns of the changes to FHIR resources, with a bound on
 * how late, so that a replica may keep what it read in memory without ever
 * serving it after a change to it has been answered, on any replica.
 *
 * Each replica listens on one connection of its own. Postgres delivers
 * notifications in the order their transactions committed, and to the
 * notifying session as to any other. So each replica notifies itself (its
 * heartbeat, every HEARTBEAT_MS, on a channel only it listens to): when the
 * heartbeat sent at time t comes back, every change committed before t has
 * been handed to the listeners. `current()` is true while the newest such t
 * is less than CHANGE_HORIZON_MS ago; a change waits that long after its
 * commit (`seenEverywhere`). Together: a replica that finds itself current
 * has seen every change answered before that moment. Times are each
 * process's own monotonic clock; no two clocks are compared. One heartbeat
 * is out at a time, so a replica whose round trip to the database is r
 * stays current while r + max(r, HEARTBEAT_MS) is under the horizon (r under
 * ~100 ms); a slower one reads from the database, as it would without memory.
 *
 * Off (never current) with the embedded database, which has one process and
 * multiplexes its connections onto one session, and when FHIR_READ_CACHE_ENTRIES
 * is 0.
 */
@Injectable()
export class ChangeFeed implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ChangeFeed');
  private readonly listeners = new Set<ChangeListener>();
  private readonly heartbeatChannel = `replica_${randomUUID().replaceAll('-', '')}`;
  readonly enabled: boolean;
  private client?: pg.Client;
  /** When the newest heartbeat that came back was sent (performance.now()). */
  private caughtUpTo = -Infinity;
  /** The heartbeat sent on the current connection and not yet back: one at a time, so it is sent when asked for, not queued. */
  private inFlight?: { n: number; sentAt: number };
  private sequence = 0;
  private heartbeat?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly config: AppConfig) {
    this.enabled = config.databaseUrl !== undefined && config.fhir.readCacheEntries > 0;
  }

  async onModuleInit(): Promise<void> {
    if (this.enabled) await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnect);
    await this.client?.end().catch(() => undefined);
  }

  subscribe(listener: ChangeListener): void {
    this.listeners.add(listener);
  }

  /** True while this replica has seen every change committed more than CHANGE_HORIZON_MS ago. */
  current(): boolean {
    return performance.now() - this.caughtUpTo < CHANGE_HORIZON_MS;
  }

  /**
   * Resolves once every replica that is current has seen a change this
   * replica has just committed: the wait before a change is answered. Nothing
   * to wait for when no replica keeps anything (the feed is off).
   */
  async seenEverywhere(committedAt: number): Promise<void> {
    if (!this.enabled) return;
    const left = committedAt + CHANGE_HORIZON_MS - performance.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.config.databaseUrl,
      application_name: 'clinical-attachments change feed',
      connectionTimeoutMillis: this.config.databaseTimeoutMs,
      query_timeout: this.config.databaseTimeoutMs,
    });
    client.on('notification', (n) => this.receive(n));
    client.on('error', (e) => this.drop(client, e));
    client.on('end', () => this.drop(client));
    try {
      await client.connect();
      // Heartbeats change nothing that needs to survive a crash: no flush to disk for them.
      await client.query(`SET synchronous_commit = off; LISTEN ${RESOURCE_CHANGES_CHANNEL}; LISTEN ${this.heartbeatChannel}`);
    } catch (e) {
      this.drop(client, e as Error);
      return;
    }
    this.client = client;
    this.heartbeat = setInterval(() => this.beat(client), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.logger.log('Listening for changes to FHIR resources');
  }

  private beat(client: pg.Client): void {
    if (this.inFlight) {
      // Sent, answered by the database, and never delivered: nothing on this connection can be trusted.
      if (performance.now() - this.inFlight.sentAt > this.config.databaseTimeoutMs) this.drop(client, new Error('a heartbeat did not come back'));
      return;
    }
    this.inFlight = { n: ++this.sequence, sentAt: performance.now() };
    client.query('SELECT pg_notify($1, $2)', [this.heartbeatChannel, String(this.inFlight.n)]).catch((e: Error) => this.drop(client, e));
  }

  private receive({ channel, payload }: pg.Notification): void {
    if (channel === RESOURCE_CHANGES_CHANNEL) {
      for (const l of this.listeners) l.changed(payload ?? '');
      return;
    }
    if (channel !== this.heartbeatChannel) return;
    if (this.inFlight?.n !== Number(payload)) return;
    this.caughtUpTo = this.inFlight.sentAt;
    this.inFlight = undefined;
  }

  /** The listening connection is gone: nothing learnt on it can be trusted any more; listen again on a new one. */
  private drop(client: pg.Client, error?: Error): void {
    if (client !== this.client && this.client !== undefined) return;
    const wasListening = this.client === client;
    this.client = undefined;
    this.caughtUpTo = -Infinity;
    this.inFlight = undefined;
    clearInterval(this.heartbeat);
    for (const l of this.listeners) l.lost();
    client.removeAllListeners('notification');
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    if (this.stopped) return;
    if (wasListening || this.reconnect === undefined) {
      this.logger.warn(`Not listening for changes (${error?.message ?? 'connection closed'}); reads go to the database until it listens again`);
    }
    clearTimeout(this.reconnect);
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.connect();
    }, RECONNECT_MS);
    this.reconnect.unref();
  }
}
