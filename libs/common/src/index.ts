export { DomainError, type DomainErrorKind } from './domain-error.js';
export { loadOrCreateSecretFile } from './adapters/secret-file.js';
export { runPeriodically } from './run-periodically.js';
