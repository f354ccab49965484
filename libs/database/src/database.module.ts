import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { AppConfig } from '@app/config';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { MIGRATIONS } from './migrations/index.js';
import { runMigrationsLocked } from './run-migrations.js';

@Module({ providers: [EmbeddedPostgres], exports: [EmbeddedPostgres] })
class EmbeddedPostgresModule {}

async function connectionOptions(config: AppConfig, embedded: EmbeddedPostgres): Promise<TypeOrmModuleOptions> {
  const target = config.databaseUrl
    ? { url: config.databaseUrl }
    : { ...(await embedded.start(config.dataDir)), username: 'postgres', database: 'postgres' };
  return {
    type: 'postgres',
    ...target,
    autoLoadEntities: true,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logging: ['error', 'warn'],
    // A refused connection at boot is retried by @nestjs/typeorm a few times, then boot fails.
    retryAttempts: 5,
    retryDelay: 1000,
    extra: { max: 10, connectionTimeoutMillis: 5000 },
  };
}

/**
 * Postgres through TypeORM: a real server when DATABASE_URL is set, else the
 * embedded PGlite. Migrations run before any repository is used.
 */
@Module({})
export class DatabaseModule {
  static forRoot(): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          imports: [EmbeddedPostgresModule],
          inject: [AppConfig, EmbeddedPostgres],
          useFactory: connectionOptions,
          dataSourceFactory: async (options) => {
            const dataSource = await new DataSource(options as DataSourceOptions).initialize();
            await runMigrationsLocked(dataSource);
            return dataSource;
          },
        }),
      ],
    };
  }
}
