import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A random secret kept in `dir/name` (mode 0600), created on first use, so
 * every process sharing the directory agrees on it across restarts.
 */
export async function loadOrCreateSecretFile(dir: string, name: string): Promise<{ secret: string; created: boolean }> {
  const path = join(dir, name);
  try {
    return { secret: (await readFile(path, 'utf8')).trim(), created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  try {
    await writeFile(path, secret + '\n', { mode: 0o600, flag: 'wx' });
    return { secret, created: true };
  } catch (e) {
    // Another process created it between our read and write: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSecretFile(dir, name);
    throw e;
  }
}
