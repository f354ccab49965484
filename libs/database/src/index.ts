export { DatabaseModule, migrateDatabase } from './database.module.js';
export { databaseUnavailable, DatabaseUnavailableError } from './database-errors.js';
