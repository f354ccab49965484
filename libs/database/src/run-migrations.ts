import type { DataSource } from 'typeorm';

/** Arbitrary but fixed: every replica of the service contends for the same lock. */
const MIGRATION_LOCK_ID = 7_362_419_001;

/**
 * Applies pending migrations while holding a session advisory lock, so that
 * replicas starting together (or parallel test workers) migrate one at a time.
 */
export async function runMigrationsLocked(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  } finally {
    await runner.release();
  }
}
