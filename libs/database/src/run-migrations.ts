import { MigrationExecutor, type DataSource } from 'typeorm';

/** Arbitrary but fixed: every replica of the service contends for the same lock. */
const MIGRATION_LOCK_ID = 7_362_419_001;

/**
 * Applies pending migrations while holding a session advisory lock, so that
 * replicas starting together (or parallel test workers) migrate one at a
 * time. Lock and migrations share one session, on which the request timeouts
 * (DATABASE_TIMEOUT_SECONDS) are lifted: waiting for another replica's
 * migrations, or a migration itself, may take longer than any request.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SET statement_timeout = 0');
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      await executor.executePendingMigrations();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      await runner.query('RESET statement_timeout');
    }
  } finally {
    await runner.release();
  }
}
