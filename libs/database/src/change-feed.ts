import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import { AppConfig } from '@app/config';

/** The channel migration 1765000000000's triggers notify, with `<org>/<type>/<id>` of a FHIR resource updated or deleted. */
export const RESOURCE_CHANGES_CHANNEL = 'fhir_resource_changed';

/**
 * How long a replica may go without proof that it has seen every change
 * committed until then, and so the longest a change waits after its commit
 * before it is answered (ChangeFeed.seenEverywhere).
 */
export const CHANGE_HORIZON_MS = 200;
/** How often a replica proves it is caught up: several proofs per horizon, so one late answer does not cost it its cache. */
const HEARTBEAT_MS = 40;
const RECONNECT_MS = 1000;
/** Every replica's heartbeats (`beat:<replica>:<n>`) and fences (`fence:<replica>:<n>`). */
const REPLICAS_CHANNEL = 'fhir_replicas';
const REPLICA_MESSAGE = /^(beat|fence):([0-9a-f]{32}):(\d+)$/;
/** Where the other replicas acknowledge a replica's fences (`<replica>:<n>`). */
const ackChannelOf = (replica: string) => `fhir_replica_ack_${replica}`;

export type ChangeListener = {
  /** A row named `key` changed, or was deleted. */
  changed(key: string): void;
  /** Changes may have been missed (the listening connection is gone): forget everything learnt so far. */
  lost(): void;
};

/** A change of this replica waiting to be seen by every replica that may still be current. */
interface Fence {
  /** The replicas it waits for, once its own fence has come back; undefined until then. */
  waitingFor?: Set<string>;
  acked: Set<string>;
  seen: () => void;
}

/**
 * What every replica learns of the changes to FHIR resources, with a bound on
 * how late, so that a replica may keep what it read in memory without ever
 * serving it after a change to it has been answered, on any replica.
 *
 * Each replica listens on one connection of its own. Postgres delivers
 * notifications in the order their transactions committed, to every
 * listener, the notifying session included. Every HEARTBEAT_MS a replica
 * notifies its heartbeat on a channel all replicas listen to: when the
 * heartbeat it sent at time t comes back, every change committed before t
 * has been handed to its listeners. `current()` is true while the newest such
 * t is less than CHANGE_HORIZON_MS ago. One heartbeat is out at a time, so a
 * replica whose round trip to the database is r stays current while
 * r + max(r, HEARTBEAT_MS) is under the horizon (r under ~100 ms); a slower
 * one reads from the database, as it would without memory.
 *
 * A change is answered once every replica that may still be current has seen
 * it (`seenEverywhere`). At the latest that is CHANGE_HORIZON_MS after its
 * commit: a replica current then has caught up to a moment after the commit.
 * Usually it is sooner: the replica that committed notifies a fence after the
 * commit; when that fence comes back to it, it has received every heartbeat
 * committed before, so it knows every replica whose last heartbeat arrived
 * less than a horizon ago, and waits only for those to acknowledge the fence,
 * which each does after the change, in commit order. A replica not among
 * them sent its last heartbeat before (horizon) ago, or after the change:
 * either it is no longer current, or it has seen the change. Times are
 * durations, each measured on one process's own monotonic clock; no two
 * clocks are compared.
 *
 * Off (never current, nothing waited for) with the embedded database, which
 * has one process and multiplexes its connections onto one session. With
 * FHIR_READ_CACHE_ENTRIES=0 a replica keeps nothing, but still listens and
 * fences its changes, for the replicas that do keep.
 */
@Injectable()
export class ChangeFeed implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('ChangeFeed');
  private readonly listeners = new Set<ChangeListener>();
  private readonly id = randomUUID().replaceAll('-', '');
  private readonly ackChannel = ackChannelOf(this.id);
  readonly enabled: boolean;
  private client?: pg.Client;
  /** Since when the current connection has listened (performance.now()). */
  private listeningSince = Infinity;
  /** When the newest heartbeat of this replica that came back was sent (performance.now()). */
  private caughtUpTo = -Infinity;
  /** The heartbeat sent on the current connection and not yet back: one at a time, so it is sent when asked for, not queued. */
  private inFlight?: { n: number; sentAt: number };
  private sequence = 0;
  /**
   * Fences and acknowledgements go out on a connection of their own, so that
   * the heartbeats on the listening one never wait behind them (a heartbeat's
   * time sent must be when it left).
   */
  private sender?: pg.Pool;
  /** When the latest heartbeat of each other replica arrived here, on the current connection. */
  private readonly lastHeard = new Map<string, number>();
  private readonly fences = new Map<number, Fence>();
  private heartbeat?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private connecting = false;
  /** Said once per outage, not at every failed attempt to listen again. */
  private warned = false;
  private stopped = false;

  constructor(private readonly config: AppConfig) {
    // Every replica on a real Postgres fences its changes, whether it keeps anything itself or not: another may.
    this.enabled = config.databaseUrl !== undefined;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    this.sender = new pg.Pool({
      connectionString: this.config.databaseUrl,
      application_name: 'clinical-attachments change feed',
      max: 1,
      connectionTimeoutMillis: this.config.databaseTimeoutMs,
      query_timeout: this.config.databaseTimeoutMs,
      options: '-c synchronous_commit=off',
    });
    // A lost idle connection is replaced on the next send; a failed send only means waiting out the horizon.
    this.sender.on('error', () => undefined);
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.reconnect);
    await this.client?.end().catch(() => undefined);
    await this.sender?.end().catch(() => undefined);
  }

  subscribe(listener: ChangeListener): void {
    this.listeners.add(listener);
  }

  /** True while this replica has seen every change committed more than CHANGE_HORIZON_MS ago. */
  current(): boolean {
    return performance.now() - this.caughtUpTo < CHANGE_HORIZON_MS;
  }

  /**
   * Resolves once every replica that may be current has seen a change this
   * replica committed at `committedAt` (performance.now()): the wait before a
   * change is answered. Nothing to wait for when the feed is off.
   */
  async seenEverywhere(committedAt: number): Promise<void> {
    if (!this.enabled) return;
    const horizon = committedAt + CHANGE_HORIZON_MS - performance.now();
    const client = this.client;
    // Only a connection that has listened for a whole horizon has heard every replica that may be current.
    if (!client || performance.now() - this.listeningSince < CHANGE_HORIZON_MS) {
      if (horizon > 0) await sleep(horizon);
      return;
    }
    const n = ++this.sequence;
    const abort = new AbortController();
    const seen = new Promise<void>((resolve) => this.fences.set(n, { acked: new Set(), seen: resolve }));
    this.send(REPLICAS_CHANNEL, `fence:${this.id}:${n}`);
    // An aborted sleep rejects: that is its end, not an error.
    const atHorizon = sleep(Math.max(0, horizon), undefined, { signal: abort.signal }).catch(() => undefined);
    try {
      await Promise.race([seen, atHorizon]);
    } finally {
      abort.abort();
      this.fences.delete(n);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.connecting || this.client) return;
    this.connecting = true;
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
      // Heartbeats, fences and acknowledgements change nothing that needs to survive a crash: no flush to disk for them.
      await client.query(`SET synchronous_commit = off; LISTEN ${RESOURCE_CHANGES_CHANNEL}; LISTEN ${REPLICAS_CHANNEL}; LISTEN ${this.ackChannel}`);
    } catch (e) {
      this.connecting = false;
      this.drop(client, e as Error);
      return;
    }
    this.connecting = false;
    if (this.stopped) {
      retire(client);
      return;
    }
    this.client = client;
    this.listeningSince = performance.now();
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.beat(client), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.logger.log('Listening for changes to FHIR resources');
    this.warned = false;
  }

  private beat(client: pg.Client): void {
    if (this.inFlight) {
      // Sent, answered by the database, and never delivered: nothing on this connection can be trusted.
      if (performance.now() - this.inFlight.sentAt > this.config.databaseTimeoutMs) this.drop(client, new Error('a heartbeat did not come back'));
      return;
    }
    this.inFlight = { n: ++this.sequence, sentAt: performance.now() };
    client.query('SELECT pg_notify($1, $2)', [REPLICAS_CHANNEL, `beat:${this.id}:${this.inFlight.n}`]).catch((e: Error) => this.drop(client, e));
  }

  private send(channel: string, payload: string): void {
    this.sender!.query('SELECT pg_notify($1, $2)', [channel, payload]).catch((e: Error) => {
      this.logger.warn(`Could not notify the other replicas (${e.message}): changes wait out the horizon meanwhile`);
    });
  }

  private receive({ channel, payload = '' }: pg.Notification): void {
    if (channel === RESOURCE_CHANGES_CHANNEL) {
      for (const l of this.listeners) l.changed(payload);
    } else if (channel === REPLICAS_CHANNEL) {
      const [, kind, replica, n] = REPLICA_MESSAGE.exec(payload) ?? [];
      if (kind === 'beat') this.heard(replica!, Number(n));
      else if (kind === 'fence' && replica === this.id) this.fenceBack(Number(n));
      // Every change committed before that fence has been handed over above: say so to the replica that waits.
      else if (kind === 'fence') this.send(ackChannelOf(replica!), `${this.id}:${n}`);
    } else if (channel === this.ackChannel) {
      const [replica, n] = payload.split(':');
      const fence = this.fences.get(Number(n));
      if (!fence || !replica) return;
      fence.acked.add(replica);
      this.settle(fence);
    }
  }

  private heard(replica: string, n: number): void {
    const now = performance.now();
    if (replica !== this.id) {
      this.lastHeard.set(replica, now);
      return;
    }
    if (this.inFlight?.n !== n) return;
    this.caughtUpTo = this.inFlight.sentAt;
    this.inFlight = undefined;
    // Replicas gone for good (scaled down, restarted under a new id) are forgotten.
    for (const [r, at] of this.lastHeard) if (now - at > 50 * CHANGE_HORIZON_MS) this.lastHeard.delete(r);
  }

  private fenceBack(n: number): void {
    const fence = this.fences.get(n);
    if (!fence) return;
    const now = performance.now();
    fence.waitingFor = new Set([...this.lastHeard].filter(([, at]) => now - at < CHANGE_HORIZON_MS).map(([r]) => r));
    this.settle(fence);
  }

  private settle(fence: Fence): void {
    if (fence.waitingFor && [...fence.waitingFor].every((r) => fence.acked.has(r))) fence.seen();
  }

  /** The listening connection is gone (or never came): nothing learnt on it can be trusted any more; listen again on a new one. */
  private drop(client: pg.Client, error?: Error): void {
    retire(client);
    if (client === this.client) {
      this.client = undefined;
      this.listeningSince = Infinity;
      this.caughtUpTo = -Infinity;
      this.inFlight = undefined;
      // Fences left fall back to the horizon; who was heard is learnt again on the next connection.
      this.fences.clear();
      this.lastHeard.clear();
      clearInterval(this.heartbeat);
      for (const l of this.listeners) l.lost();
    } else if (this.client) {
      return;
    }
    if (this.stopped || this.connecting || this.reconnect) return;
    if (!this.warned) {
      this.logger.warn(`Not listening for changes (${error?.message ?? 'connection closed'}); reads go to the database until it listens again`);
      this.warned = true;
    }
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      void this.connect();
    }, RECONNECT_MS);
    this.reconnect.unref();
  }
}

/** A connection no longer used: whatever it reports from now on is ignored, and it is closed. */
function retire(client: pg.Client): void {
  client.removeAllListeners();
  client.on('error', () => undefined);
  void client.end().catch(() => undefined);
}
