import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import type { SupportedContentType } from './content-types.js';
import { Environment } from './environment.js';
import { originProblems } from './origins.js';

export type StorageConfig =
  | { driver: 'fs' }
  | {
      driver: 's3';
      bucket: string;
      /** Unset: the SDK's default chain (AWS_REGION, profile, instance metadata). */
      region?: string;
      /** MinIO or another S3-compatible endpoint. */
      endpoint?: string;
      /** Where clients reach the store, for pre-signed URLs; unset: the same endpoint. */
      publicEndpoint?: string;
      forcePathStyle: boolean;
      /** Longest an S3 request may go without progress (connecting, sending, waiting for the answer). */
      timeoutMs: number;
      serverSideEncryption?: { algorithm: 'AES256' | 'aws:kms'; kmsKeyId?: string };
    };

export type AuthConfig =
  | { mode: 'hs256'; secret: string; issuer?: string; audience?: string; orgClaim: string }
  | { mode: 'jwks'; jwksUrl: string; issuer: string; audience: string; orgClaim: string }
  /** Zero-setup: a development secret is generated into DATA_DIR. */
  | { mode: 'development'; issuer?: string; audience?: string; orgClaim: string };

/**
 * The validated, typed configuration. Parsed once at boot and injected by
 * class token; nothing else in the service reads `process.env`.
 */
export class AppConfig {
  readonly port!: number;
  /** Absolute origin (and optional path prefix) clients use, without a trailing slash. */
  readonly publicBaseUrl?: string;
  /** Other base URLs that reach this service, without trailing slashes. */
  readonly publicBaseUrlAliases!: readonly string[];
  /** Origins whose scripts may call the API; empty: no CORS. */
  readonly cors!: { allowedOrigins: readonly string[] };
  /** Origins that may frame signed files, besides the service's own. */
  readonly frameAncestors!: readonly string[];
  readonly dataDir!: string;
  readonly storage!: StorageConfig;
  /** Unset: the embedded Postgres-compatible database under `dataDir`. */
  readonly databaseUrl?: string;
  /** Longest wait for a pooled connection, and for any one statement. */
  readonly databaseTimeoutMs!: number;
  /** Apply pending migrations at start (always, for the embedded database). */
  readonly migrateOnStart!: boolean;
  /** The role every connection of the service acts as (SET ROLE), subject to row-level security; unset: the login role. */
  readonly databaseServiceRole?: string;
  /** Unset: uploads are not scanned. */
  readonly clamav?: { host: string; port: number; timeoutMs: number };
  readonly uploads!: {
    maxBytes: number;
    /** The most an upload request may carry: the file plus room for multipart boundaries and part headers. */
    maxRequestBytes: number;
    /** Longest silence between two chunks of an upload before it is given up (408). */
    idleTimeoutMs: number;
    maxConcurrent: number;
    allowedContentTypes: readonly SupportedContentType[];
    pendingTtlSeconds: number;
  };
  /** Longest a download waits for its client to take a byte before it is cut (DOWNLOAD_IDLE_TIMEOUT_SECONDS). */
  readonly downloadIdleTimeoutMs!: number;
  readonly auth!: AuthConfig;
  readonly fhir!: {
    /** Unset: never-linked files are kept until deleted. */
    orphanGraceHours?: number;
    maxBodyBytes: number;
    /** FHIR_BINARY_INLINE_MAX_BYTES. */
    binaryInlineMaxBytes: number;
    /** PUT and DELETE without If-Match are refused (428). */
    requireIfMatch: boolean;
    /** Resources a replica keeps in memory (ChangeFeed, with a real Postgres only); 0: none. */
    readCacheEntries: number;
  };
  readonly audit!: {
    /** Off only to measure what auditing costs. */
    enabled: boolean;
    /** An access whose event cannot be stored is refused. */
    required: boolean;
    /** `stderr` or a file path for the SIEM stream; unset: off. */
    log?: string;
    /** The token claim holding scopes, and the scope that reads the audit trail. */
    scopeClaim: string;
    readScope: string;
  };
  readonly presignExpiresSeconds!: number;
  /** Unset: the fs store generates one into DATA_DIR. */
  readonly urlSigningSecret?: string;
  readonly trustProxy!: boolean;
  /** After SIGTERM: how long to keep serving while not ready, then the longest wait for requests in flight. */
  readonly shutdown!: { drainMs: number; timeoutMs: number };
  readonly log!: { level: Environment['LOG_LEVEL']; format: Environment['LOG_FORMAT'] };

  constructor(values: AppConfig) {
    Object.assign(this, values);
    Object.freeze(this);
  }
}

/** Room for the multipart boundaries, part headers and the few small fields around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((e) =>
    Object.values(e.constraints ?? {}).map((m) => (m.includes(e.property) ? m : `${e.property}: ${m}`)),
  );
}

function isHttpsOrLoopback(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(hostname);
}

/** Validates the environment and builds the typed configuration, or throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const e = plainToInstance(Environment, { ...env }, { exposeDefaultValues: true });
  // whitelist drops every variable the service does not own (PATH, HOME, ...).
  const problems = describe(validateSync(e, { whitelist: true }));

  if (e.JWT_SECRET && e.JWT_JWKS_URL) {
    problems.push('JWT_SECRET and JWT_JWKS_URL are mutually exclusive: set one of them');
  }
  if (e.JWT_JWKS_URL && (!e.JWT_ISSUER || !e.JWT_AUDIENCE)) {
    problems.push('JWT_JWKS_URL requires JWT_ISSUER and JWT_AUDIENCE, so tokens minted for other services are refused');
  }
  if (e.JWT_JWKS_URL && !isHttpsOrLoopback(e.JWT_JWKS_URL)) {
    problems.push('JWT_JWKS_URL must use https (plain http only on loopback): whoever can alter the keys can forge tokens');
  }
  if (e.NODE_ENV === 'production') {
    if (!e.JWT_SECRET && !e.JWT_JWKS_URL) problems.push('NODE_ENV=production requires JWT_SECRET or JWT_JWKS_URL (no generated development secret)');
    if (!e.DATABASE_URL) problems.push('NODE_ENV=production requires DATABASE_URL (the embedded database is for development only)');
    if (!e.PUBLIC_BASE_URL) {
      problems.push(
        'NODE_ENV=production requires PUBLIC_BASE_URL: links to files and signed URLs must not be built from, or recognised by, the Host header of each request',
      );
    }
  }
  if (!e.AUDIT_ENABLED && (e.AUDIT_REQUIRED || e.NODE_ENV === 'production')) {
    problems.push('AUDIT_ENABLED=false is for measuring what auditing costs: not with AUDIT_REQUIRED=true or NODE_ENV=production');
  }
  if (e.SCAN_REQUIRED && !e.CLAMAV_HOST) {
    problems.push('SCAN_REQUIRED=true needs CLAMAV_HOST: uploads must not be stored unscanned');
  }
  if (e.STORAGE_DRIVER === 's3' && !e.S3_BUCKET) problems.push('STORAGE_DRIVER=s3 requires S3_BUCKET');
  if (e.S3_SSE_KMS_KEY_ID && e.S3_SSE !== 'aws:kms') problems.push('S3_SSE_KMS_KEY_ID needs S3_SSE=aws:kms');
  if (Array.isArray(e.ALLOWED_CONTENT_TYPES) && e.ALLOWED_CONTENT_TYPES.length === 0) {
    problems.push('ALLOWED_CONTENT_TYPES must list at least one content type');
  }
  problems.push(...originProblems('CORS_ALLOWED_ORIGINS', e.CORS_ALLOWED_ORIGINS));
  problems.push(...originProblems('FRAME_ANCESTORS', e.FRAME_ANCESTORS));
  if (problems.length > 0) throw new ConfigError(problems);

  const common = { issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, orgClaim: e.JWT_ORG_CLAIM };
  const auth: AuthConfig = e.JWT_SECRET
    ? { mode: 'hs256', secret: e.JWT_SECRET, ...common }
    : e.JWT_JWKS_URL
      ? { mode: 'jwks', jwksUrl: e.JWT_JWKS_URL, ...common, issuer: e.JWT_ISSUER!, audience: e.JWT_AUDIENCE! }
      : { mode: 'development', ...common };

  return new AppConfig({
    port: e.PORT,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    publicBaseUrlAliases: (e.PUBLIC_BASE_URL_ALIASES ?? []).map((u) => u.replace(/\/+$/, '')),
    cors: { allowedOrigins: [...new Set(e.CORS_ALLOWED_ORIGINS)] },
    frameAncestors: [...new Set(e.FRAME_ANCESTORS)],
    dataDir: resolve(e.DATA_DIR),
    storage:
      e.STORAGE_DRIVER === 's3'
        ? {
            driver: 's3',
            bucket: e.S3_BUCKET!,
            region: e.AWS_REGION,
            endpoint: e.AWS_ENDPOINT_URL_S3,
            publicEndpoint: e.S3_PUBLIC_ENDPOINT,
            forcePathStyle: e.S3_FORCE_PATH_STYLE,
            timeoutMs: e.S3_TIMEOUT_SECONDS * 1000,
            serverSideEncryption: e.S3_SSE ? { algorithm: e.S3_SSE, kmsKeyId: e.S3_SSE_KMS_KEY_ID } : undefined,
          }
        : { driver: 'fs' },
    databaseUrl: e.DATABASE_URL,
    databaseTimeoutMs: e.DATABASE_TIMEOUT_SECONDS * 1000,
    migrateOnStart: e.MIGRATE_ON_START,
    databaseServiceRole: e.DATABASE_SERVICE_ROLE || undefined,
    clamav: e.CLAMAV_HOST ? { host: e.CLAMAV_HOST, port: e.CLAMAV_PORT, timeoutMs: e.CLAMAV_TIMEOUT_SECONDS * 1000 } : undefined,
    uploads: {
      maxBytes: e.MAX_UPLOAD_BYTES,
      maxRequestBytes: e.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES,
      idleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_SECONDS * 1000,
      maxConcurrent: e.MAX_CONCURRENT_UPLOADS,
      allowedContentTypes: [...new Set(e.ALLOWED_CONTENT_TYPES)] as SupportedContentType[],
      pendingTtlSeconds: e.PENDING_UPLOAD_TTL_SECONDS,
    },
    auth,
    fhir: { orphanGraceHours: e.ORPHAN_GRACE_HOURS, maxBodyBytes: e.FHIR_MAX_BODY_BYTES, binaryInlineMaxBytes: e.FHIR_BINARY_INLINE_MAX_BYTES, requireIfMatch: e.FHIR_REQUIRE_IF_MATCH, readCacheEntries: e.FHIR_READ_CACHE_ENTRIES },
    audit: { enabled: e.AUDIT_ENABLED, required: e.AUDIT_REQUIRED, log: e.AUDIT_LOG, scopeClaim: e.AUDIT_SCOPE_CLAIM, readScope: e.AUDIT_READ_SCOPE },
    presignExpiresSeconds: e.PRESIGN_EXPIRES_SECONDS,
    downloadIdleTimeoutMs: e.DOWNLOAD_IDLE_TIMEOUT_SECONDS * 1000,
    urlSigningSecret: e.URL_SIGNING_SECRET,
    trustProxy: e.TRUST_PROXY,
    shutdown: { drainMs: e.SHUTDOWN_DRAIN_SECONDS * 1000, timeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000 },
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT },
  });
}
