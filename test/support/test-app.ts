import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import type { LoggerService } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SignJWT } from 'jose';
import pg from 'pg';
import { loadConfig, type AppConfig } from '@app/config';
import { AppModule } from '../../apps/api/src/app.module.js';
import { configureApp } from '../../apps/api/src/configure-app.js';
import { startClamd, type Clamd } from './clamd.js';
import { randomSecret, tempDir, testDatabaseUrl } from './environment.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { s3Server } from './s3.js';

/** Which stack an e2e project runs against (jest.config.js sets it per project). */
export type StoreProfile = 'fs' | 's3-clamav';

export function storeProfile(): StoreProfile {
  return (globalThis as { E2E_PROFILE?: StoreProfile }).E2E_PROFILE ?? 'fs';
}

export interface TestAppOptions {
  logger?: LoggerService;
  /** Scan every upload with a real clamd (the s3-clamav profile always does). */
  clamd?: boolean;
  /** Put a fault proxy between the app and each of its servers, so a test can make them fail. */
  faults?: boolean;
  /** DATA_DIR (the fs store's objects live under it); a new temp dir when unset. */
  dataDir?: string;
}

/** The proxies in front of the app's servers, present with `faults`. */
export interface Faults {
  database: FaultProxy;
  scanner?: FaultProxy;
  objectStore?: FaultProxy;
}

export interface TestApp {
  app: NestExpressApplication;
  server: Server;
  /** http://127.0.0.1:<port> of the listening app. */
  baseUrl: string;
  config: AppConfig;
  faults?: Faults;
  /** A valid token for the organization, signed with the app's secret. */
  tokenFor(organizationId: string, claims?: Record<string, unknown>): Promise<string>;
  /** Keys in the object store under an organization's prefix (on S3, as the S3 API lists them). */
  storedKeys(organizationId: string): Promise<string[]>;
  /** Uploads started but not finished in the store: temp files (fs) or multipart uploads (S3, ListMultipartUploads). */
  unfinishedWrites(organizationId?: string): Promise<number>;
  removeObject(key: string): Promise<void>;
  /** Rows of stored_files for an organization, whatever their status. */
  rowsOf(organizationId: string): Promise<Array<{ file_name: string; status: string }>>;
  /** An organization's resources (`Type/id`) and their links to files (`Type/id -> fileName`), sorted. */
  resourcesOf(organizationId: string): Promise<{ resources: string[]; links: string[] }>;
  close(): Promise<void>;
}

const proxyFor = (url: string) => {
  const { hostname, port } = new URL(url);
  return startFaultProxy({ host: hostname, port: Number(port) });
};

/**
 * The whole application, as `npm start` builds it, on the real Postgres of the
 * test run and a temp DATA_DIR, listening on a loopback port. The s3-clamav
 * profile stores in a fresh bucket of the run's RGW and scans with a clamd of
 * its own.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  profile: StoreProfile = storeProfile(),
  options: TestAppOptions = {},
): Promise<TestApp> {
  const secret = randomSecret();
  const dataDir = options.dataDir ?? tempDir();
  const s3 = profile === 's3-clamav' ? s3Server() : undefined;
  const bucket = s3 ? await s3.createBucket() : undefined;
  const clamd: Clamd | undefined = s3 || options.clamd ? await startClamd() : undefined;
  const clamdUrl = clamd ? `tcp://127.0.0.1:${clamd.port}` : undefined;

  const faults: Faults | undefined = options.faults
    ? {
        database: await proxyFor(env.DATABASE_URL ?? testDatabaseUrl()),
        scanner: clamdUrl ? await proxyFor(clamdUrl) : undefined,
        objectStore: s3 ? await proxyFor(s3.endpoint) : undefined,
      }
    : undefined;
  const via = (url: string, proxy: FaultProxy | undefined) => {
    if (!proxy) return url;
    const u = new URL(url);
    u.hostname = proxy.host;
    u.port = String(proxy.port);
    return u.toString().replace(/\/$/, '');
  };
  const databaseUrl = via(env.DATABASE_URL ?? testDatabaseUrl(), faults?.database);
  const config = loadConfig({
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    LOG_LEVEL: 'warn',
    ...(s3 && {
      ...s3.env,
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket!,
      AWS_ENDPOINT_URL_S3: via(s3.endpoint, faults?.objectStore),
      S3_FORCE_PATH_STYLE: 'true',
    }),
    ...(clamdUrl && {
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: new URL(via(clamdUrl, faults?.scanner)).port,
      SCAN_REQUIRED: 'true',
    }),
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: options.logger ?? ['error', 'warn'] });
  configureApp(app, config);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  // The test's own view of the database and the store goes around the fault proxies.
  const db = new pg.Pool({ connectionString: env.DATABASE_URL ?? testDatabaseUrl(), max: 2 });
  const tempFiles = join(dataDir, 'objects', '.tmp');

  return {
    app,
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    faults,
    tokenFor: (organizationId, claims = {}) =>
      new SignJWT({ org_id: organizationId, ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret)),
    storedKeys: async (organizationId) => {
      if (s3) return s3.keys(bucket!, `${organizationId}/`);
      const dir = join(dataDir, 'objects', organizationId);
      return existsSync(dir) ? readdirSync(dir).map((f) => `${organizationId}/${f}`) : [];
    },
    unfinishedWrites: async (organizationId) => {
      if (s3) return s3.multipartUploads(bucket!, organizationId ? `${organizationId}/` : undefined);
      const names = existsSync(tempFiles) ? readdirSync(tempFiles) : [];
      return organizationId ? names.filter((n) => n.startsWith(`${organizationId}.`)).length : names.length;
    },
    removeObject: async (key) => (s3 ? s3.deleteObject(bucket!, key) : rm(join(dataDir, 'objects', key))),
    rowsOf: async (organizationId) =>
      (await db.query('SELECT file_name, status FROM stored_files WHERE organization_id = $1', [organizationId])).rows,
    resourcesOf: async (organizationId) => ({
      resources: (await db.query(`SELECT resource_type || '/' || id AS r FROM fhir_resources WHERE organization_id = $1 ORDER BY 1`, [organizationId])).rows.map((r) => r.r),
      links: (
        await db.query(`SELECT resource_type || '/' || resource_id || ' -> ' || file_name AS l FROM fhir_file_links WHERE organization_id = $1 ORDER BY 1`, [organizationId])
      ).rows.map((r) => r.l),
    }),
    close: async () => {
      await app.close();
      await db.end();
      await Promise.all([faults?.database.close(), faults?.scanner?.close(), faults?.objectStore?.close()]);
      await clamd?.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
