import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILE_NAME = 'dev-jwt-secret';

/**
 * Zero-setup mode only: the HS256 secret lives in DATA_DIR (mode 0600) so that
 * `npm run token` and the service agree on it across restarts.
 */
export async function loadOrCreateDevelopmentSecret(dataDir: string): Promise<{ secret: string; created: boolean }> {
  const path = join(dataDir, FILE_NAME);
  try {
    return { secret: (await readFile(path, 'utf8')).trim(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  try {
    await writeFile(path, secret + '\n', { mode: 0o600, flag: 'wx' });
    return { secret, created: true };
  } catch (e) {
    // Another process created it between our read and write: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDevelopmentSecret(dataDir);
    throw e;
  }
}
