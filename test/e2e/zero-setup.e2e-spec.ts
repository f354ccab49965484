import { execFile, spawn, type ChildProcess, type ExecFileOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, newOrganizationId, tempDir } from '../support/environment.js';
import { codeBlocks, walkThroughScript } from '../support/readme-examples.js';
import { samples } from '../support/sample-files.js';
import { smallDisk } from '../support/small-disk.js';

const root = process.cwd();
const main = join(root, 'dist/apps/api/src/main.js');
const tokenCli = join(root, 'dist/apps/api/src/token.js');


/** Runs `script` in an interactive bash or zsh without startup files, fed on its standard input. */
function pasteInto(shell: 'bash' | 'zsh', script: string, options: ExecFileOptions): Promise<{ stdout: string; stderr: string }> {
  const args = shell === 'bash' ? ['--norc', '--noprofile', '-i', '-s'] : ['-f', '-i', '-s'];
  return new Promise((resolve, reject) => {
    const child = execFile(shell, args, { ...options, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(Object.assign(error, { stdout, stderr })) : resolve({ stdout, stderr }),
    );
    child.stdin!.end(`${script}\nexit 0\n`);
  });
}

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

  it('carries out a FHIR transaction that stores a Binary on the embedded database, and keeps nothing of a refused one', async () => {
    // The embedded database lets one connection in at a time during a transaction: every step of it must join it.
    const org = newOrganizationId();
    const { stdout } = await promisify(execFile)('node', [tokenCli, '--org', org], { env: { PATH: process.env.PATH, DATA_DIR: dataDir } });
    const headers = { Authorization: `Bearer ${stdout.trim()}`, 'Content-Type': 'application/fhir+json' };
    const bundle = (status: string) => ({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:5f0c1e7a-3f7c-4a53-9c1e-0d6c2b1f9a01',
          resource: { resourceType: 'DocumentReference', status, content: [{ attachment: { url: 'urn:uuid:5f0c1e7a-3f7c-4a53-9c1e-0d6c2b1f9a02' } }] },
          request: { method: 'POST', url: 'DocumentReference' },
        },
        {
          fullUrl: 'urn:uuid:5f0c1e7a-3f7c-4a53-9c1e-0d6c2b1f9a02',
          resource: { resourceType: 'Binary', contentType: 'application/pdf', data: samples.pdf.toString('base64') },
          request: { method: 'POST', url: 'Binary' },
        },
      ],
    });
    const refused = await fetch(`${baseUrl}/fhir`, { method: 'POST', headers, body: JSON.stringify(bundle('not-a-status')) });
    expect(refused.status).toBe(422);
    const done = await fetch(`${baseUrl}/fhir`, { method: 'POST', headers, body: JSON.stringify(bundle('current')) });
    expect(done.status).toBe(200);
    const answer = (await done.json()) as { entry: Array<{ response: { status: string; location: string } }> };
    expect(answer.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created']);
    const binaryId = answer.entry[1]!.response.location.split('/')[1];
    expect(readdirSync(join(dataDir, 'objects', org))).toEqual([`${binaryId}.pdf`]);
    const found = await fetch(`${baseUrl}/fhir/DocumentReference?_count=0`, { headers });
    expect(((await found.json()) as { total: number }).total).toBe(1);
  });

  describe.each(['bash', 'zsh'] as const)("the README's walk-through, pasted in order into %s", (shell) => {
    it('runs to its end, and every example answers what the README says', async () => {
      // The reader's folder: the repository (for `npm run token`), where the examples write their files.
      const folder = tempDir('readme-');
      for (const entry of ['package.json', 'scripts', 'dist', 'node_modules']) symlinkSync(join(root, entry), join(folder, entry));
      const script = walkThroughScript(codeBlocks(join(root, 'README.md'), 'Trying it'), shell).replace(
        'export BASE=http://localhost:3000',
        `export BASE=${baseUrl}`,
      );
      expect(script).toContain(`export BASE=${baseUrl}`);
      try {
        // Pasted: an interactive shell reading the lines, as a terminal gives them (an interactive zsh
        // runs a `#` comment as words of the command, so a comment in a block would break it).
        const { stdout } = await pasteInto(shell, script, {
          cwd: folder,
          env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, README_PYTHON: process.env.TEST_PYTHON ?? 'python3' },
          maxBuffer: 16 << 20,
        }).catch((e: { stderr?: string; stdout?: string; message: string }) => {
          throw new Error(`The ${shell} walk-through failed: ${e.stderr || e.message}\n${e.stdout ?? ''}`);
        });
        // curl prints JSON answers without a final newline, so the next output follows on the same line.
        const count = (text: string) => stdout.split(text).length - 1;
        expect(stdout).toContain('{"organizationId":"demo-org"}');
        expect(count('same bytes\n')).toBe(3);
        expect(stdout).toMatch(/201 Created List\/[0-9a-f-]{36}\n201 Created DocumentReference\/[0-9a-f-]{36}\n201 Created Binary\/[0-9a-f]{32}\n/);
        expect(count('200 image/png\n')).toBe(1);
        expect(count('200 48 bytes\n')).toBe(2); // Node's fetch and Python's requests
        expect(count('307 signed URL received: true\n')).toBe(1);
        expect(count('signed URL works without a token: 200\n')).toBe(1);
        expect(stdout).toContain('"code":"file_in_use"');
        expect(stdout).toMatch(/204\n404\n204\n$/);
        expect(readFileSync(join(folder, 'lab-report-python.pdf')).equals(readFileSync(join(folder, 'lab-report.pdf')))).toBe(true);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }, 90_000);
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

describe('zero-setup start on a DATA_DIR without room for the embedded database', () => {
  it('says which directory is full, and exits', async () => {
    const disk = await smallDisk(30 * 1024 * 1024);
    try {
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(await freePort()), DATA_DIR: disk.dir };
      const child = spawn('node', [main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(output).toContain(`The embedded database in ${join(disk.dir, 'db')} could not start: only`);
      expect(output).toMatch(/MiB are free there and it needs about \d+ MiB \(DATA_DIR\)/);
    } finally {
      await disk.remove();
    }
  }, 90_000);
});
