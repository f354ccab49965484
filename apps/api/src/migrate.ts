import { ConfigError, loadConfig } from '@app/config';
import { migrateDatabase } from '@app/database';

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL and exits, for
 * a Job that runs before a rollout (with MIGRATE_ON_START=false on the replicas).
 * Safe to run while replicas serve and beside another migration: migrations
 * take a database-wide lock and each runs in its own transaction.
 */
try {
  await migrateDatabase(loadConfig(process.env));
  process.stdout.write('Migrations applied\n');
} catch (e) {
  process.stderr.write(`${e instanceof ConfigError ? e.message : `Migration failed: ${(e as Error).message}`}\n`);
  process.exit(1);
}
