export { DatabaseModule, migrateDatabase } from './database.module.js';
export { databaseUnavailable, DatabaseUnavailableError } from './database-errors.js';
export { OrganizationScope } from './organization-scope.js';
export { CROSS_ORGANIZATION_SETTING, ORGANIZATION_SETTING, SERVICE_ROLE } from './row-level-security.js';
export { ChangeFeed, type ChangeListener } from './change-feed.js';
export type { CommitRider } from './commit-rider.js';
