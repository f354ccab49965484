import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The real Postgres server that `npm test` starts; tests refuse to guess one. */
export function testDatabaseUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the suite with `npm test`, which starts PostgreSQL');
  return url;
}

export function tempDir(prefix = 'attachments-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A fresh organization per test, so tests never see each other's data. */
export function newOrganizationId(): string {
  return `org-${randomBytes(6).toString('hex')}`;
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A loopback port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
