import { loadOrCreateSecretFile } from '@app/common';

/**
 * Zero-setup mode only: the HS256 secret lives in DATA_DIR (mode 0600) so that
 * `npm run token` and the service agree on it across restarts.
 */
export function loadOrCreateDevelopmentSecret(dataDir: string): Promise<{ secret: string; created: boolean }> {
  return loadOrCreateSecretFile(dataDir, 'dev-jwt-secret');
}
