import { Global, Injectable, Module } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DomainError } from './domain-error.js';

/** What a connection pool tells about itself when scraped. */
export interface PoolState {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

/** Seconds: from a 1 KiB lab result on a quiet machine to a 50 MB video over a slow link. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The service's metrics, one registry per application instance (never
 * prom-client's global one, so several instances in a process do not collide).
 * Every metric the service writes is declared here, so its name, help and
 * labels have one home. Label values come from small fixed sets (route
 * patterns, statuses, error codes and reasons, resource types): never an
 * organization, a file or a resource id, so cardinality stays bounded and no
 * tenant is named.
 */
@Injectable()
export class ServiceMetrics {
  readonly registry = new Registry();

  /** By route pattern (e.g. /files/:orgId/:fileName), never the raw path. */
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  /**
   * Every upload's end as its client saw it: `status` is the answer's (201, 400, 408, 413,
   * 415, 422, 503, 507, or `aborted` when the client left first), `reason` the error's code, or
   * for 415 which check refused the file (see UnsupportedContentError).
   */
  readonly uploads = new Counter({
    name: 'attachments_uploads_total',
    help: 'Uploads by the status answered and the reason for a refusal',
    labelNames: ['status', 'reason'] as const,
    registers: [this.registry],
  });

  readonly storedBytes = new Counter({
    name: 'attachments_stored_bytes_total',
    help: 'Bytes of files stored (available to their organization)',
    registers: [this.registry],
  });

  /** From the first byte handed to the scanner to its verdict, so it includes waiting for the upload's bytes. */
  readonly scanDuration = new Histogram({
    name: 'attachments_scan_duration_seconds',
    help: 'Antivirus scans by verdict: clean, infected, or failed (no verdict)',
    labelNames: ['verdict'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly objectStoreErrors = new Counter({
    name: 'attachments_object_store_errors_total',
    help: 'Failed object store operations by operation and error code',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });

  readonly redirects = new Counter({
    name: 'attachments_redirects_total',
    help: 'Redirects (307) issued for an attachment: to a signed URL of a stored file or to an external URL',
    labelNames: ['resource_type', 'target', 'disposition'] as const,
    registers: [this.registry],
  });

  /** Only the embedded store's signed URLs come back to the service; S3's go to the store. */
  readonly signedUrls = new Counter({
    name: 'attachments_signed_url_requests_total',
    help: 'Signed URLs presented to the service: redeemed, or refused and why',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  readonly sweeperDeletions = new Counter({
    name: 'attachments_sweeper_deletions_total',
    help: 'Files deleted by a background sweeper: unfinished uploads, interrupted deletions, orphans',
    labelNames: ['sweeper'] as const,
    registers: [this.registry],
  });

  /** Every audit event stored, or not (AUDIT_REQUIRED=false lets the access go on without it: alert on these). */
  readonly auditEvents = new Counter({
    name: 'attachments_audit_events_total',
    help: 'Audit events by outcome: stored, or failed (the access was refused with AUDIT_REQUIRED, else it went on unrecorded)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /**
   * FHIR_READ_CACHE_ENTRIES: `hit` (from memory), or from the database: `miss` (kept for the
   * next read), `not_found`, `raced` (a change was seen during the read: not kept), `not_current`
   * (the replica could not prove it has seen every change: a slow database, or none).
   */
  readonly readCache = new Counter({
    name: 'attachments_fhir_read_cache_total',
    help: 'Reads of a FHIR resource: hit (memory), or from the database: miss (then kept), not_found, raced (changed meanwhile), not_current (this replica is behind)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** Time to get a database connection from the pool; long ones mean requests queue for the pool. */
  readonly poolAcquire = new Histogram({
    name: 'attachments_db_pool_acquire_seconds',
    help: 'Time to get a connection from the database pool, by outcome (acquired, failed)',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges whose names end in _total, which Prometheus keeps for counters (promtool refuses them);
    // the same numbers are the sum over `type` of nodejs_active_handles, _requests and _resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  /** Reports a connection pool's size and queue at every scrape. */
  watchPool(state: () => PoolState): void {
    const gauge = (name: string, help: string, read: (s: PoolState) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read(state()));
        },
      });
    gauge('attachments_db_pool_connections', 'Open database connections in the pool', (s) => s.total);
    gauge('attachments_db_pool_idle_connections', 'Idle database connections in the pool', (s) => s.idle);
    gauge('attachments_db_pool_waiting_requests', 'Queries waiting for a database connection', (s) => s.waiting);
    gauge('attachments_db_pool_max_connections', 'Most database connections the pool opens', (s) => s.max);
  }
}

/** The label for why something failed: a domain error's reason or code, never its message. */
export function reasonOf(error: unknown): string {
  if (error instanceof DomainError) return error.reason ?? error.code;
  return 'unexpected';
}

/** Makes ServiceMetrics available to every module of the app. */
@Global()
@Module({ providers: [ServiceMetrics], exports: [ServiceMetrics] })
export class MetricsModule {}
