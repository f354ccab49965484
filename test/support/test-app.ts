import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Test } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SignJWT } from 'jose';
import pg from 'pg';
import { loadConfig, type AppConfig } from '@app/config';
import { AppModule } from '../../apps/api/src/app.module.js';
import { configureApp } from '../../apps/api/src/configure-app.js';
import { randomSecret, tempDir, testDatabaseUrl } from './environment.js';

export interface TestApp {
  app: NestExpressApplication;
  server: Server;
  /** http://127.0.0.1:<port> of the listening app. */
  baseUrl: string;
  config: AppConfig;
  /** A valid token for the organization, signed with the app's secret. */
  tokenFor(organizationId: string, claims?: Record<string, unknown>): Promise<string>;
  /** Rows of stored_files for an organization, whatever their status. */
  rowsOf(organizationId: string): Promise<Array<{ file_name: string; status: string }>>;
  close(): Promise<void>;
}

/**
 * The whole application, as `npm start` builds it, on the real Postgres of the
 * test run and a temp DATA_DIR, listening on a loopback port.
 */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const secret = randomSecret();
  const dataDir = tempDir();
  const config = loadConfig({
    DATABASE_URL: testDatabaseUrl(),
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: ['error', 'warn'] });
  configureApp(app, config);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  const { port } = server.address() as AddressInfo;
  const db = new pg.Pool({ connectionString: testDatabaseUrl(), max: 2 });

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
    rowsOf: async (organizationId) =>
      (await db.query('SELECT file_name, status FROM stored_files WHERE organization_id = $1', [organizationId])).rows,
    close: async () => {
      await app.close();
      await db.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
