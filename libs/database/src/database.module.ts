import { type DynamicModule, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { Socket } from 'node:net';
import type { ClientBase, Pool } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { MetricsModule, ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { ChangeFeed } from './change-feed.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { MIGRATIONS } from './migrations/index.js';
import { OrganizationScope } from './organization-scope.js';
import { runMigrationsLocked } from './run-migrations.js';
import { TypeOrmLogger } from './typeorm-logger.js';

@Module({ providers: [EmbeddedPostgres], exports: [EmbeddedPostgres] })
class EmbeddedPostgresModule {}

async function connectionOptions(config: AppConfig, embedded: EmbeddedPostgres | undefined): Promise<TypeOrmModuleOptions> {
  const target = config.databaseUrl
    ? { url: config.databaseUrl }
    : { ...(await embedded!.start(config.dataDir)), username: 'postgres', database: 'postgres' };
  return {
    type: 'postgres',
    ...target,
    autoLoadEntities: true,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logger: new TypeOrmLogger(),
    maxQueryExecutionTime: 1000,
    // A refused connection at boot is retried by @nestjs/typeorm a few times, then boot fails.
    retryAttempts: 5,
    retryDelay: 1000,
    toRetry: (e: unknown) => !(e instanceof ServiceRoleError),
    // Every wait is bounded, so an outage or a saturated pool is a quick 503, never a hung request:
    // getting a connection (pool full, server unreachable), a statement on the server, its answer on the wire.
    extra: {
      max: 10,
      connectionTimeoutMillis: config.databaseTimeoutMs,
      statement_timeout: config.databaseTimeoutMs,
      query_timeout: config.databaseTimeoutMs + 1000,
      idle_in_transaction_session_timeout: config.databaseTimeoutMs * 3,
    },
  };
}

type PostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

/**
 * A connection whose query timed out (query_timeout) still waits for that
 * answer, and node-postgres queues every later query behind it: after a
 * network hang it would never serve again, and neither would the pool.
 * Such a connection is closed when it comes back to the pool, and the pool
 * opens a fresh one. (`_getActiveQuery` is node-postgres' own accessor for
 * the query in flight; TypeORM releases connections without their error.)
 */
function dropStuckConnections(dataSource: DataSource): void {
  const pool = (dataSource.driver as unknown as { master: Pool }).master;
  pool.on('release', (_error, client) => {
    const waiting = (client as unknown as { _getActiveQuery?: () => unknown })._getActiveQuery?.();
    if (waiting) (client as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
  });
}

type Connect = (callback: (error: Error | undefined, ...rest: unknown[]) => void) => void;

/**
 * The pool's size and queue at every scrape, and how long each query waited
 * for a connection: a pool too small for the traffic (or a database too slow
 * to give connections back) shows as waits before it shows as 503s. TypeORM
 * takes connections with the pool's callback form of connect(), which is the
 * one timed here.
 */
@Injectable()
class PoolMetrics implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: ServiceMetrics,
  ) {}

  onModuleInit(): void {
    const pool = (this.dataSource.driver as unknown as { master: Pool }).master;
    this.metrics.watchPool(() => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 }));
    const connect = (pool.connect as unknown as Connect).bind(pool);
    const acquire = this.metrics.poolAcquire;
    (pool as unknown as { connect: Connect }).connect = (callback) => {
      const done = acquire.startTimer();
      connect((error, ...rest) => {
        done({ outcome: error ? 'failed' : 'acquired' });
        callback(error, ...rest);
      });
    };
  }
}

/** The service cannot act as a role that row-level security applies to: a setting to fix, not an outage to wait out. */
class ServiceRoleError extends Error {}

/**
 * Every connection of the service's pool acts as the service role before its
 * first query, as the login role may own the tables or be a superuser, to
 * which row-level security does not apply. pg-pool hands a new connection out
 * only once `onConnect` has resolved, and closes it when it fails: no query
 * ever runs as the login role.
 */
function actingAs(role: string | undefined): { onConnect?: (client: ClientBase) => Promise<void> } {
  if (!role) return {};
  return {
    onConnect: async (client) => {
      try {
        await client.query(`SET ROLE ${client.escapeIdentifier(role)}`);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        // 22023: no such role; 42501: the login role is not a member of it. Anything else (a lost connection) stays as it is.
        if (code !== '22023' && code !== '42501') throw e;
        throw new ServiceRoleError(
          `The database connection cannot act as the role ${role} (DATABASE_SERVICE_ROLE): ${(e as Error).message}. ` +
            'The migrations create it and grant it to the role that runs them; see "Row-level security" in the README',
          { cause: e },
        );
      }
    },
  };
}

/**
 * Refuses to serve as a role that row-level security does not apply to
 * (DATABASE_SERVICE_ROLE empty with a superuser or BYPASSRLS login): the
 * second wall between organizations would be down without anyone noticing.
 */
async function assertSubjectToRowLevelSecurity(dataSource: DataSource): Promise<void> {
  const [role]: Array<{ name: string; exempt: boolean }> = await dataSource.query(
    'SELECT rolname AS name, rolsuper OR rolbypassrls AS exempt FROM pg_roles WHERE rolname = current_user',
  );
  if (role?.exempt) {
    throw new ServiceRoleError(
      `The service would query the database as ${role.name}, a superuser or BYPASSRLS role that row-level security does not apply to: ` +
        'set DATABASE_SERVICE_ROLE (default clinical_attachments_service), or connect as a role without SUPERUSER and BYPASSRLS',
    );
  }
}

/** Migrations run on a connection of their own, as the login role, without the request timeouts of the service's pool. */
async function migrate(options: PostgresOptions): Promise<void> {
  const { max: _max, query_timeout: _q, statement_timeout: _s, ...extra } = options.extra as Record<string, unknown>;
  const migrator = await new DataSource({ ...options, extra: { ...extra, max: 1 } }).initialize();
  try {
    await runMigrationsLocked(migrator);
  } finally {
    await migrator.destroy();
  }
}

/**
 * Applies pending migrations to DATABASE_URL and returns: the migration
 * command (`npm run migrate`), which a deployment runs before a rollout so
 * that no replica migrates while others serve.
 */
export async function migrateDatabase(config: AppConfig): Promise<void> {
  if (!config.databaseUrl) throw new Error('DATABASE_URL is not set: the embedded database migrates itself at start');
  await migrate((await connectionOptions(config, undefined)) as PostgresOptions);
}

/**
 * Postgres through TypeORM: a real server when DATABASE_URL is set, else the
 * embedded PostgreSQL server. Migrations run before any repository is used.
 * Global, like the DataSource: every module's repositories reach their rows
 * through OrganizationScope.
 */
@Module({})
export class DatabaseModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      imports: [
        MetricsModule,
        TypeOrmModule.forRootAsync({
          imports: [EmbeddedPostgresModule],
          inject: [AppConfig, EmbeddedPostgres],
          useFactory: connectionOptions,
          dataSourceFactory: async (options) => {
            // The embedded database always migrates itself; a real one unless MIGRATE_ON_START=false (a migration Job does it).
            if (config.migrateOnStart || !config.databaseUrl) await migrate(options as PostgresOptions);
            // The migrations above ran as the login role (the owner); the service acts as the row-level security role.
            const postgres = options as PostgresOptions;
            const extra = { ...(postgres.extra as Record<string, unknown>), ...actingAs(config.databaseServiceRole) };
            const dataSource = await new DataSource({ ...postgres, extra }).initialize();
            try {
              await assertSubjectToRowLevelSecurity(dataSource);
            } catch (e) {
              await dataSource.destroy();
              throw e;
            }
            dropStuckConnections(dataSource);
            return dataSource;
          },
        }),
      ],
      providers: [PoolMetrics, OrganizationScope, ChangeFeed],
      exports: [OrganizationScope, ChangeFeed],
    };
  }
}
