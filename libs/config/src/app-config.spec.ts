import { ConfigError, loadConfig } from './app-config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.storage.driver).toBe('fs');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.clamav).toBeUndefined();
    expect(c.uploads.maxBytes).toBe(52_428_800);
    expect(c.uploads.allowedContentTypes).toEqual([
      'application/pdf', 'image/jpeg', 'image/png', 'text/plain', 'application/json', 'video/mp4',
    ]);
    expect(c.auth).toEqual({ mode: 'development', orgClaim: 'org_id', issuer: undefined, audience: undefined });
    expect(c.presignExpiresSeconds).toBe(600);
    expect(c.dataDir.startsWith('/')).toBe(true);
  });

  it('acts as the row-level security role by default, as the login role when DATABASE_SERVICE_ROLE is empty', () => {
    expect(loadConfig({}).databaseServiceRole).toBe('clinical_attachments_service');
    expect(loadConfig({ DATABASE_SERVICE_ROLE: ' attachments_rls ' }).databaseServiceRole).toBe('attachments_rls');
    expect(loadConfig({ DATABASE_SERVICE_ROLE: '' }).databaseServiceRole).toBeUndefined();
    expect(problemsOf({ DATABASE_SERVICE_ROLE: 'postgres; DROP TABLE x' }).join('\n')).toContain('DATABASE_SERVICE_ROLE');
  });

  it('accepts a plain-http JWKS on loopback, for local identity providers', () => {
    expect(() => loadConfig({ JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' })).not.toThrow();
  });

  it('builds the S3 and ClamAV settings', () => {
    const c = loadConfig({
      STORAGE_DRIVER: 's3', S3_BUCKET: 'clinical-files', AWS_REGION: 'eu-central-1', AWS_ENDPOINT_URL_S3: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'true', S3_SSE: 'aws:kms', S3_SSE_KMS_KEY_ID: 'alias/files', CLAMAV_HOST: 'clamd', SCAN_REQUIRED: 'true',
    });
    expect(c.storage).toEqual({
      driver: 's3', bucket: 'clinical-files', region: 'eu-central-1', endpoint: 'http://minio:9000', forcePathStyle: true, timeoutMs: 30_000,
      serverSideEncryption: { algorithm: 'aws:kms', kmsKeyId: 'alias/files' },
    });
    expect(c.clamav).toEqual({ host: 'clamd', port: 3310, timeoutMs: 120_000 });
  });

  it('ignores variables the service does not own', () => {
    expect(() => loadConfig({ PATH: '/bin', HOME: '/root' })).not.toThrow();
  });

  it('parses numbers, lists and the HS256 secret', () => {
    const c = loadConfig({
      PORT: '8080',
      MAX_UPLOAD_BYTES: '1024',
      ALLOWED_CONTENT_TYPES: ' application/PDF , image/png ',
      JWT_SECRET: 'x'.repeat(32),
      PUBLIC_BASE_URL: 'https://files.example.org/api/',
      PUBLIC_BASE_URL_ALIASES: 'http://attachments.internal:3000/, https://files.example.net',
    });
    expect(c.port).toBe(8080);
    expect(c.publicBaseUrlAliases).toEqual(['http://attachments.internal:3000', 'https://files.example.net']);
    expect(c.fhir.orphanGraceHours).toBeUndefined();
    expect(c.uploads.maxBytes).toBe(1024);
    expect(c.uploads.allowedContentTypes).toEqual(['application/pdf', 'image/png']);
    expect(c.auth.mode).toBe('hs256');
    expect(c.publicBaseUrl).toBe('https://files.example.org/api');
  });

  it('reads the browser origins allowed to call the API and to frame signed files, none by default', () => {
    expect(loadConfig({}).cors.allowedOrigins).toEqual([]);
    expect(loadConfig({}).frameAncestors).toEqual([]);
    const c = loadConfig({
      CORS_ALLOWED_ORIGINS: ' https://ehr.hospital.example , http://localhost:5173,https://ehr.hospital.example',
      FRAME_ANCESTORS: 'https://viewer.hospital.example:8443',
    });
    expect(c.cors.allowedOrigins).toEqual(['https://ehr.hospital.example', 'http://localhost:5173']);
    expect(c.frameAncestors).toEqual(['https://viewer.hospital.example:8443']);
  });

  it.each([
    ['CORS_ALLOWED_ORIGINS', '*', "CORS_ALLOWED_ORIGINS: '*' is refused"],
    ['CORS_ALLOWED_ORIGINS', 'https://a.example,null', "CORS_ALLOWED_ORIGINS: 'null' is refused"],
    ['CORS_ALLOWED_ORIGINS', 'https://ehr.example/app', "did you mean 'https://ehr.example'?"],
    ['CORS_ALLOWED_ORIGINS', 'https://ehr.example/', "did you mean 'https://ehr.example'?"],
    ['CORS_ALLOWED_ORIGINS', 'https://EHR.example:443', "did you mean 'https://ehr.example'?"],
    ['CORS_ALLOWED_ORIGINS', 'ehr.example', "CORS_ALLOWED_ORIGINS: 'ehr.example' is not an origin"],
    ['CORS_ALLOWED_ORIGINS', 'ftp://ehr.example', 'is not an http(s) origin'],
    ['FRAME_ANCESTORS', "'none'", "FRAME_ANCESTORS: ''none'' is not an origin"],
    ['FRAME_ANCESTORS', 'https://viewer.example?x=1', "did you mean 'https://viewer.example'?"],
  ])('refuses %s=%s as not an exact origin', (variable, value, message) => {
    expect(problemsOf({ [variable]: value }).join('\n')).toContain(message);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ MAX_UPLOAD_BYTES: '0' }, 'MAX_UPLOAD_BYTES'],
    [{ ALLOWED_CONTENT_TYPES: 'application/pdf,text/html' }, 'ALLOWED_CONTENT_TYPES'],
    [{ STORAGE_DRIVER: 'nfs' }, 'STORAGE_DRIVER'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ JWT_SECRET: 'x'.repeat(32), JWT_JWKS_URL: 'https://idp.example/jwks' }, 'JWT_JWKS_URL'],
    [{ JWT_JWKS_URL: 'https://idp.example/jwks' }, 'JWT_ISSUER'],
    [{ PUBLIC_BASE_URL: 'files.example.org' }, 'PUBLIC_BASE_URL'],
    [{ SCAN_REQUIRED: 'true' }, 'SCAN_REQUIRED'],
    [{ STORAGE_DRIVER: 's3' }, 'S3_BUCKET'],
    [{ STORAGE_DRIVER: 's3', S3_BUCKET: 'Bad_Bucket' }, 'S3_BUCKET'],
    [{ S3_SSE: 'rot13' }, 'S3_SSE'],
    [{ S3_SSE: 'AES256', S3_SSE_KMS_KEY_ID: 'k' }, 'S3_SSE_KMS_KEY_ID'],
    [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
    [{ JWT_JWKS_URL: 'http://idp.example/jwks', JWT_ISSUER: 'i', JWT_AUDIENCE: 'a' }, 'JWT_JWKS_URL must use https'],
    [{ PENDING_UPLOAD_TTL_SECONDS: '60' }, 'PENDING_UPLOAD_TTL_SECONDS'],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x' }, 'requires JWT_SECRET or JWT_JWKS_URL'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }, 'requires DATABASE_URL'],
    [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://db/x' }, 'requires PUBLIC_BASE_URL'],
    [
      { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://db/x', STORAGE_DRIVER: 's3', S3_BUCKET: 'files' },
      'requires PUBLIC_BASE_URL',
    ],
    [{ PUBLIC_BASE_URL_ALIASES: 'https://ok.example,internal-host' }, 'PUBLIC_BASE_URL_ALIASES'],
    [{ UPLOAD_IDLE_TIMEOUT_SECONDS: '0' }, 'UPLOAD_IDLE_TIMEOUT_SECONDS'],
    [{ DATABASE_TIMEOUT_SECONDS: 'soon' }, 'DATABASE_TIMEOUT_SECONDS'],
    [{ AUDIT_ENABLED: 'false', AUDIT_REQUIRED: 'true' }, 'AUDIT_ENABLED=false'],
    [{ AUDIT_REQUIRED: 'sometimes' }, 'AUDIT_REQUIRED'],
    [{ AUDIT_SCOPE_CLAIM: '' }, 'AUDIT_SCOPE_CLAIM'],
  ])('refuses %j with a message naming %s', (env, variable) => {
    const problems = problemsOf(env as Record<string, string>);
    expect(problems.join('\n')).toContain(variable);
  });
});
