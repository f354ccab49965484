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
import { startClamd } from './clamd.js';
import { randomSecret, tempDir, testDatabaseUrl } from './environment.js';
import { startS3 } from './s3.js';

/** Which stack an e2e project runs against (jest.config.js sets it per project). */
export type StoreProfile = 'fs' | 's3-clamav';

export function storeProfile(): StoreProfile {
  return (globalThis as { E2E_PROFILE?: StoreProfile }).E2E_PROFILE ?? 'fs';
}

export interface TestApp {
  app: NestExpressApplication;
  server: Server;
  /** http://127.0.0.1:<port> of the listening app. */
  baseUrl: string;
  config: AppConfig;
  /** A valid token for the organization, signed with the app's secret. */
  tokenFor(organizationId: string, claims?: Record<string, unknown>): Promise<string>;
  /** Keys in the object store under an organization's prefix. */
  storedKeys(organizationId: string): Promise<string[]>;
  /** Uploads started but not finished in the store: temp files (fs) or multipart uploads (S3). */
  unfinishedWrites(): Promise<number>;
  removeObject(key: string): Promise<void>;
  /** Rows of stored_files for an organization, whatever their status. */
  rowsOf(organizationId: string): Promise<Array<{ file_name: string; status: string }>>;
  close(): Promise<void>;
}

/** A fresh bucket on a new s3rver and a new clamd, both on loopback. */
async function startS3AndClamd() {
  const [s3, clamd] = await Promise.all([startS3(), startClamd()]);
  const bucket = await s3.createBucket();
  return {
    s3,
    clamd,
    bucket,
    env: {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: String(clamd.port),
      SCAN_REQUIRED: 'true',
    },
    stop: async () => {
      await Promise.all([s3.stop(), clamd.stop()]);
    },
  };
}

/**
 * The whole application, as `npm start` builds it, on the real Postgres of the
 * test run and a temp DATA_DIR, listening on a loopback port.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  profile: StoreProfile = storeProfile(),
  options: { logger?: LoggerService } = {},
): Promise<TestApp> {
  const secret = randomSecret();
  const dataDir = tempDir();
  const stack = profile === 's3-clamav' ? await startS3AndClamd() : undefined;
  const config = loadConfig({
    DATABASE_URL: testDatabaseUrl(),
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    LOG_LEVEL: 'warn',
    ...stack?.env,
    ...env,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: options.logger ?? ['error', 'warn'] });
  configureApp(app, config);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 2 });

  return {
    app,
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    tokenFor: (organizationId, claims = {}) =>
      new SignJWT({ org_id: organizationId, ...claims })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret)),
    storedKeys: async (organizationId) => {
      if (stack) return stack.s3.keys(stack.bucket, `${organizationId}/`);
      const dir = join(dataDir, 'objects', organizationId);
      return existsSync(dir) ? readdirSync(dir).map((f) => `${organizationId}/${f}`) : [];
    },
    unfinishedWrites: async () =>
      stack ? stack.s3.multipartUploads(stack.bucket).catch(() => 0) : readdirSync(join(dataDir, 'objects', '.tmp')).length,
    removeObject: async (key) => (stack ? stack.s3.deleteObject(stack.bucket, key) : rm(join(dataDir, 'objects', key))),
    rowsOf: async (organizationId) =>
      (await db.query('SELECT file_name, status FROM stored_files WHERE organization_id = $1', [organizationId])).rows,
    close: async () => {
      await app.close();
      await db.end();
      await stack?.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
