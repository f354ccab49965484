export { DomainError, InvalidRequestError, type DomainErrorKind } from './domain-error.js';
export { loadOrCreateSecretFile } from './adapters/secret-file.js';
export { runPeriodically } from './run-periodically.js';
export { JsonDepthLimit, JsonTooDeepError, MAX_JSON_DEPTH } from './json-depth.js';
export { MetricsModule, reasonOf, ServiceMetrics, type PoolState } from './metrics.js';
export { inRequest, runInRequest } from './request-scope.js';
export { watchRejection } from './rejection.js';
export { settledWithin } from './settled-within.js';
