import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClamdClient } from '../../libs/scanning/src/adapters/clamd-client.js';
import { freePort, tempDir } from './environment.js';

const FIXTURES = join(process.cwd(), 'test/fixtures/clamav');

export interface Clamd {
  port: number;
  stop(): Promise<void>;
}


/**
 * A real clamd on a loopback port with the repository's test signatures
 * (EICAR and the clamav-testfiles set), the same settings as production needs.
 */
export async function startClamd(): Promise<Clamd> {
  const dir = tempDir('clamd-');
  mkdirSync(join(dir, 'db'));
  for (const f of ['test-signatures.ndb', 'test-signatures.hdb']) copyFileSync(join(FIXTURES, f), join(dir, 'db', f));
  const port = await freePort();
  const conf = readFileSync(join(FIXTURES, 'clamd.conf.template'), 'utf8').replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port));
  writeFileSync(join(dir, 'clamd.conf'), conf);
  const child: ChildProcess = spawn('clamd', ['-c', join(dir, 'clamd.conf')], { stdio: 'ignore' });
  const client = new ClamdClient({ host: '127.0.0.1', port, timeoutMs: 1000 });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await client.ping();
      break;
    } catch (e) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw new Error(`clamd did not start: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    stop: async () => {
      // A process killed by a signal keeps exitCode null; signalCode says it is gone.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
