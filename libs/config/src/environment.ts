import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { SUPPORTED_CONTENT_TYPES } from './content-types.js';

const emptyToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const toInt = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string' || value.trim() === '') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
};

const toNumber = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string' || value.trim() === '') return value;
  return /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value.trim()) : value;
};

const toBoolean = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (v === '') return undefined;
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return value;
};

const toUrlList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : value;

const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean)
    : value;

/**
 * The process environment as the service accepts it. Every property is named
 * exactly like its variable so that validation messages name the variable.
 * Defaults live here and in `.env.example`, nowhere else.
 */
export class Environment {
  /** production refuses the zero-setup fallbacks (generated secret, embedded database). */
  @Transform(emptyToUndefined)
  @IsIn(['development', 'test', 'production'])
  NODE_ENV: 'development' | 'test' | 'production' = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT: number = 3000;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  @Matches(/^[^?#]*$/, { message: 'PUBLIC_BASE_URL must not carry a query or fragment' })
  PUBLIC_BASE_URL?: string;

  /**
   * Other base URLs clients reach this service at (another host name, an
   * internal address), comma-separated: file URLs under them are this service's files too.
   */
  @Transform(toUrlList)
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true }, { each: true, message: 'PUBLIC_BASE_URL_ALIASES must list absolute http(s) URLs' })
  @Matches(/^[^?#]*$/, { each: true, message: 'PUBLIC_BASE_URL_ALIASES must not carry a query or fragment' })
  PUBLIC_BASE_URL_ALIASES?: string[];

  /**
   * Origins (scheme://host[:port]) of front ends whose scripts may call the API, comma-separated.
   * Unset: no CORS headers at all. Checked to be exact origins in loadConfig.
   */
  @Transform(toUrlList)
  @IsOptional()
  @IsString({ each: true })
  CORS_ALLOWED_ORIGINS?: string[];

  /** Origins that may show the embedded store's signed files in a frame, besides the service's own; comma-separated. */
  @Transform(toUrlList)
  @IsOptional()
  @IsString({ each: true })
  FRAME_ANCESTORS?: string[];

  @Transform(emptyToUndefined)
  @IsString()
  DATA_DIR: string = './data';

  @Transform(emptyToUndefined)
  @IsIn(['fs', 's3'], { message: 'STORAGE_DRIVER must be one of: fs, s3' })
  STORAGE_DRIVER: 'fs' | 's3' = 'fs';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'S3_BUCKET must be a valid bucket name' })
  S3_BUCKET?: string;

  /** Standard AWS SDK variables; credentials come from the SDK's default provider chain. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  AWS_REGION?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  AWS_ENDPOINT_URL_S3?: string;

  /** Endpoint clients reach the store at, when it differs from the service's (an in-cluster MinIO behind an ingress). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  S3_PUBLIC_ENDPOINT?: string;

  @Transform(toBoolean)
  @IsBoolean()
  S3_FORCE_PATH_STYLE: boolean = false;

  /** Seconds an S3 request may go without progress before it is given up (and retried, 3 attempts in all). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(300)
  S3_TIMEOUT_SECONDS: number = 30;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['AES256', 'aws:kms'], { message: 'S3_SSE must be AES256 or aws:kms' })
  S3_SSE?: 'AES256' | 'aws:kms';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  S3_SSE_KMS_KEY_ID?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  /** false: the service does not migrate the database at start; `npm run migrate` (a Job before each rollout) does. */
  @Transform(toBoolean)
  @IsBoolean()
  MIGRATE_ON_START: boolean = true;

  /** Longest wait for the database: a connection from the pool, and any one statement. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(120)
  DATABASE_TIMEOUT_SECONDS: number = 10;

  /**
   * The role the service acts as on every connection (SET ROLE), which row-level
   * security applies to; the migrations create it. Empty: no SET ROLE, for a
   * login role that is itself such a role.
   */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @Matches(/^([A-Za-z_][A-Za-z0-9_$]{0,62})?$/, { message: 'DATABASE_SERVICE_ROLE must be a role name (letters, digits, _ and $) or empty' })
  DATABASE_SERVICE_ROLE: string = 'clinical_attachments_service';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  CLAMAV_HOST?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  CLAMAV_PORT: number = 3310;

  /** How long clamd may take to answer once it has the whole file (the scan itself). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(240, { message: 'CLAMAV_TIMEOUT_SECONDS must stay below the 300 s request timeout' })
  CLAMAV_TIMEOUT_SECONDS: number = 120;

  /** true: refuse to start unless CLAMAV_HOST is set. */
  @Transform(toBoolean)
  @IsBoolean()
  SCAN_REQUIRED: boolean = false;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(5 * 1024 * 1024 * 1024)
  MAX_UPLOAD_BYTES: number = 52_428_800;

  /** Uploads one instance accepts at once; more get 503 (each may hold ~24 MiB of S3 parts). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  MAX_CONCURRENT_UPLOADS: number = 32;

  /** Seconds an upload may go without a single byte arriving before it is given up (408), so a stalled client frees its slot. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(300)
  UPLOAD_IDLE_TIMEOUT_SECONDS: number = 30;

  /** Seconds a download may wait for its client to take a single byte before it is cut, so a reader that stopped frees its file and buffers. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  DOWNLOAD_IDLE_TIMEOUT_SECONDS: number = 60;

  @Transform(toList)
  @IsIn(SUPPORTED_CONTENT_TYPES, {
    each: true,
    message: `ALLOWED_CONTENT_TYPES may only list: ${SUPPORTED_CONTENT_TYPES.join(', ')}`,
  })
  ALLOWED_CONTENT_TYPES: string[] = [...SUPPORTED_CONTENT_TYPES];

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters (256 bits) for HS256' })
  JWT_SECRET?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ protocols: ['https', 'http'], require_tld: false, require_protocol: true })
  JWT_JWKS_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_ISSUER?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_AUDIENCE?: string;

  @Transform(emptyToUndefined)
  @IsString()
  @MaxLength(256)
  JWT_ORG_CLAIM: string = 'org_id';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 3600)
  PRESIGN_EXPIRES_SECONDS: number = 600;

  /** HMAC key for the fs store's signed URLs; unset: generated into DATA_DIR. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'URL_SIGNING_SECRET must be at least 32 characters' })
  URL_SIGNING_SECRET?: string;

  /** Must outlive the longest upload: the HTTP server's request timeout is 300 s. */
  @Transform(toInt)
  @IsInt()
  @Min(600, { message: 'PENDING_UPLOAD_TTL_SECONDS must be at least 600 (twice the 300 s request timeout)' })
  PENDING_UPLOAD_TTL_SECONDS: number = 3600;

  /**
   * Unset (the default): files are kept until someone deletes them. Set: files
   * that no FHIR resource linked within this many hours of their upload are
   * deleted (fractions allowed). Only for deployments that use /files purely
   * as the attachment store of their FHIR resources.
   */
  @Transform(toNumber)
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(24 * 365)
  ORPHAN_GRACE_HOURS?: number;

  /** true: PUT and DELETE of a FHIR resource need If-Match (428 without); false: without it, the last write wins. */
  @Transform(toBoolean)
  @IsBoolean()
  FHIR_REQUIRE_IF_MATCH: boolean = false;

  /**
   * Resources each replica keeps in memory for reads and attachment redirects,
   * with a real Postgres (never the embedded database); 0: every read asks the
   * database. A kept resource is never served after a change to it has been
   * answered, on any replica: an update or delete is answered once every replica
   * that may be current has acknowledged it, at most 0.2 s after its commit (see ChangeFeed).
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  FHIR_READ_CACHE_ENTRIES: number = 10_000;

  /** Largest JSON body accepted (FHIR resources, inline attachment data included). */
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024)
  @Max(256 * 1024 * 1024)
  FHIR_MAX_BODY_BYTES: number = 16 * 1024 * 1024;

  /**
   * Largest file whose bytes GET /fhir/Binary/<id> as FHIR JSON carries inline (base64 `data`); a larger
   * one's JSON points at the bytes instead (an extension on `_data`), so a read never holds a whole video.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(16 * 1024 * 1024)
  FHIR_BINARY_INLINE_MAX_BYTES: number = 1024 * 1024;

  @Transform(toBoolean)
  @IsBoolean()
  TRUST_PROXY: boolean = false;

  /** Seconds the instance keeps serving after SIGTERM while reporting itself not ready, for load balancers to notice. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(120)
  SHUTDOWN_DRAIN_SECONDS: number = 5;

  /** Longest wait after that for the requests in flight (uploads included) before their connections are closed. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  SHUTDOWN_TIMEOUT_SECONDS: number = 300;

  @Transform(emptyToUndefined)
  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  @Transform(emptyToUndefined)
  @IsIn(['text', 'json'])
  LOG_FORMAT: 'text' | 'json' = 'text';

  /** false: no audit events at all, for benchmarks that measure what auditing costs; refused with AUDIT_REQUIRED or in production. */
  @Transform(toBoolean)
  @IsBoolean()
  AUDIT_ENABLED: boolean = true;

  /** true: an access whose audit event cannot be stored is refused (503); false: it is logged and counted. */
  @Transform(toBoolean)
  @IsBoolean()
  AUDIT_REQUIRED: boolean = false;

  /** The audit events as JSON lines for a SIEM, apart from the service's log: `stderr` or a file path. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  AUDIT_LOG?: string;

  /** The token claim that holds scopes (a space-separated string or an array). */
  @IsString()
  @MinLength(1)
  AUDIT_SCOPE_CLAIM: string = 'scope';

  /** The scope that lets a token read its organization's audit trail (GET /fhir/AuditEvent). */
  @IsString()
  @MinLength(1)
  AUDIT_READ_SCOPE: string = 'audit/AuditEvent.read';
}
