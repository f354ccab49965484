import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface SocketConnection {
  /** Directory holding the Unix socket, as `pg` expects it in `host`. */
  host: string;
  port: number;
}

const SOCKET_PORT = 5432;
/** TypeORM's pool opens several connections; PGlite multiplexes them onto one backend. */
const MAX_CONNECTIONS = 16;

/**
 * Zero-setup database: PGlite (Postgres compiled to WebAssembly) persisted in
 * DATA_DIR, served over the Postgres wire protocol on a Unix socket in a
 * private temp directory, so the same driver, SQL and migrations run as on a
 * real server and no TCP port is opened.
 */
@Injectable()
export class EmbeddedPostgres implements OnApplicationShutdown {
  private readonly logger = new Logger('EmbeddedPostgres');
  private db?: PGlite;
  private server?: PGLiteSocketServer;
  private socketDir?: string;

  constructor(private readonly moduleRef: ModuleRef) {}

  async start(dataDir: string): Promise<SocketConnection> {
    const dir = join(dataDir, 'db');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const started = Date.now();
    this.db = await PGlite.create(dir).catch(async (e: unknown) => {
      throw new Error(`The embedded database in ${dir} could not start: ${await whyNot(dir, e)}`, { cause: e });
    });
    this.socketDir = await mkdtemp(join(tmpdir(), 'attachments-pg-'));
    this.server = new PGLiteSocketServer({
      db: this.db,
      path: join(this.socketDir, `.s.PGSQL.${SOCKET_PORT}`),
      maxConnections: MAX_CONNECTIONS,
    });
    await this.server.start();
    this.logger.log(`Embedded database ready in ${Date.now() - started} ms (${dir})`);
    return { host: this.socketDir, port: SOCKET_PORT };
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.server) return;
    // Close the pool first: stopping the server under idle pooled connections makes pg report each as an error.
    try {
      const dataSource = this.moduleRef.get(DataSource, { strict: false });
      if (dataSource.isInitialized) await dataSource.destroy();
    } catch {
      // No data source (boot failed before it was registered), or it failed to close: stop the server anyway.
    }
    await this.server.stop().catch(() => undefined);
    await this.db?.close().catch(() => undefined);
    if (this.socketDir) await rm(this.socketDir, { recursive: true, force: true });
  }
}

/** PGlite reports a full disk as `ErrnoError { errno: 51 }`, which tells an operator nothing: say what is known. */
async function whyNot(dir: string, error: unknown): Promise<string> {
  const { bavail, bsize } = await statfs(dir).catch(() => ({ bavail: undefined, bsize: 0 }));
  const free = bavail === undefined ? undefined : bavail * bsize;
  const said = error instanceof Error && error.message ? error.message : String((error as { errno?: unknown })?.errno ?? error);
  if (free !== undefined && free < EMBEDDED_MIN_FREE_BYTES) {
    return `only ${Math.floor(free / 1024 / 1024)} MiB are free there and it needs about ${EMBEDDED_MIN_FREE_BYTES / 1024 / 1024} MiB (DATA_DIR); ${said}`;
  }
  return `${said} (check that DATA_DIR is writable and has room)`;
}

/** What a new embedded database takes on disk, measured: about 40 MiB, with room to grow. */
const EMBEDDED_MIN_FREE_BYTES = 64 * 1024 * 1024;
