import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, newOrganizationId, tempDir } from '../support/environment.js';
import { samples } from '../support/sample-files.js';

const root = process.cwd();
const main = join(root, 'dist/apps/api/src/main.js');
const tokenCli = join(root, 'dist/apps/api/src/token.js');


async function waitUntilReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`The service exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('The service did not become ready in time');
}

/**
 * What the README's start command does on a fresh machine: the built service
 * with nothing configured (embedded database, fs store, development secret),
 * and a token from the token command for the same DATA_DIR.
 */
describe('zero-setup start (built service, embedded defaults)', () => {
  let child: ChildProcess;
  let dataDir: string;
  let baseUrl: string;
  let output = '';

  beforeAll(async () => {
    if (!existsSync(main)) await promisify(execFile)('node', ['scripts/ensure-built.mjs'], { cwd: root });
    dataDir = tempDir();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), DATA_DIR: dataDir };
    child = spawn('node', [main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    await waitUntilReady(`${baseUrl}/health/ready`, child, 90_000);
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode !== null ? r(null) : child.once('exit', r)));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('uploads, downloads and deletes with a token from `npm run token`', async () => {
    const org = newOrganizationId();
    const { stdout } = await promisify(execFile)('node', [tokenCli, '--org', org], {
      env: { PATH: process.env.PATH, DATA_DIR: dataDir },
    });
    const auth = { Authorization: `Bearer ${stdout.trim()}` };

    const form = new FormData();
    form.append('file', new Blob([samples.pdf], { type: 'application/pdf' }), 'lab-report.pdf');
    const created = await fetch(`${baseUrl}/files/upload`, { method: 'POST', headers: auth, body: form });
    expect(created.status).toBe(201);
    const { url, key } = (await created.json()) as { url: string; key: string };
    expect(key.startsWith(`${org}/`)).toBe(true);
    expect(existsSync(join(dataDir, 'objects', key))).toBe(true);

    const download = await fetch(`${baseUrl}${url}`, { headers: auth });
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(samples.pdf)).toBe(true);

    expect((await fetch(`${baseUrl}${url}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await fetch(`${baseUrl}${url}`, { headers: auth })).status).toBe(404);
  });

  it('keeps the development secret private to its owner', async () => {
    const { stat } = await import('node:fs/promises');
    expect((await stat(join(dataDir, 'dev-jwt-secret'))).mode & 0o077).toBe(0);
    expect(output).toContain('development secret');
  });

  it('logs neither tokens nor file contents', () => {
    expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(output).not.toContain('%PDF');
  });
});
