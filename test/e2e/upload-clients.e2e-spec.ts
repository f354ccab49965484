import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { newOrganizationId, tempDir } from '../support/environment.js';
import { eventually } from '../support/http.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { MiB, mp4With, sendUpload, textWith } from '../support/upload-client.js';

/**
 * A refusal sent while a 50 MiB body is still arriving reaches the clients
 * integration engineers use, each in its own way of sending: Node's fetch
 * (undici, under most generated TypeScript clients) reads the answer while it
 * sends, curl waits for `100 Continue`, python-requests sends everything
 * before it reads. None may see a reset instead of the answer.
 */

const run = promisify(execFile);
const PYTHON = process.env.TEST_PYTHON ?? 'python3';
const BOUNDARY = 'x-clinical-attachments-test-boundary';

let t: TestApp;
let dir: string;
/** 50 MiB of text with a NUL byte 1000 bytes before its end: refused (415) only after 50 MiB arrived. */
let lateRefusal: string;
/** A valid 50 MiB video. */
let video: string;

/** What the app logs as errors: a client's behaviour, however odd, is never one. */
const errors: string[] = [];
const errorLog = {
  log: () => undefined,
  warn: () => undefined,
  error: (message: unknown) => void errors.push(String(message)),
};

beforeAll(async () => {
  t = await startTestApp({ MAX_CONCURRENT_UPLOADS: '1', UPLOAD_IDLE_TIMEOUT_SECONDS: '2', DOWNLOAD_IDLE_TIMEOUT_SECONDS: '2' }, 'fs', { logger: errorLog });
  dir = tempDir('clients-');
  const file = (name: string, size: number, content: (offset: number, chunk: Buffer) => void) => {
    const bytes = Buffer.alloc(size);
    content(0, bytes);
    writeFileSync(join(dir, name), bytes);
    return join(dir, name);
  };
  lateRefusal = file('late.txt', 50 * MiB, textWith(Buffer.from([0]), 50 * MiB - 1000));
  video = file('procedure.mp4', 50 * MiB, mp4With());
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

let org: string;
let token: string;
beforeEach(async () => {
  org = newOrganizationId();
  token = await t.tokenFor(org);
});

interface Answer {
  status: number;
  code?: string;
  retryAfter?: string | null;
}

/** The clients, each uploading a file from disk the way its documentation shows. */
const clients: Record<string, (path: string, name: string, type: string) => Promise<Answer>> = {
  async 'Node fetch (FormData)'(path, name, type) {
    const { readFile } = await import('node:fs/promises');
    const form = new FormData();
    form.append('file', new Blob([await readFile(path)], { type }), name);
    const res = await fetch(`${t.baseUrl}/files/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
    const body = (await res.json()) as { code?: string };
    return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
  },
  async 'curl -F (Expect: 100-continue)'(path, name, type) {
    return curl(['-F', `file=@${path};filename=${name};type=${type}`]);
  },
  async 'curl -F without Expect'(path, name, type) {
    return curl(['-H', 'Expect:', '-F', `file=@${path};filename=${name};type=${type}`]);
  },
  async 'python-requests'(path, name, type) {
    const script = [
      'import json, sys, requests',
      'url, token, path, name, ctype = sys.argv[1:]',
      'with open(path, "rb") as f:',
      '    r = requests.post(url, headers={"Authorization": "Bearer " + token}, files={"file": (name, f, ctype)})',
      'print(json.dumps({"status": r.status_code, "code": r.json().get("code"), "retryAfter": r.headers.get("Retry-After")}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, `${t.baseUrl}/files/upload`, token, path, name, type], { maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as Answer;
  },
  // The commonest Python upload: the part gets the file's name and no Content-Type (multipart's text/plain).
  async 'python-requests, the file alone'(path) {
    const script = [
      'import json, sys, requests',
      'url, token, path = sys.argv[1:]',
      'r = requests.post(url, headers={"Authorization": "Bearer " + token}, files={"file": open(path, "rb")})',
      'print(json.dumps({"status": r.status_code, "code": r.json().get("code"), "retryAfter": r.headers.get("Retry-After")}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, `${t.baseUrl}/files/upload`, token, path], { maxBuffer: 1 << 20 });
    return JSON.parse(stdout) as Answer;
  },
};

async function curl(args: string[]): Promise<Answer> {
  const { stdout } = await run('curl', [
    '-sS', '-o', '-', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${token}`, ...args, `${t.baseUrl}/files/upload`,
  ]).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`curl failed: ${e.message} ${e.stderr ?? ""}`);
  });
  const lines = stdout.trim().split('\n');
  const status = Number(lines.pop());
  const body = JSON.parse(lines.join('\n')) as { code?: string };
  return { status, code: body.code };
}

/** A socket that has sent an upload's headers and the file part's head, announcing 10 MB, and nothing more. */
async function startUpload(fileName: string): Promise<Socket> {
  const { port } = new URL(t.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.on('error', () => undefined);
  socket.write(
    `POST /files/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: 10000000\r\n\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\n\r\n`,
  );
  return socket;
}

/** Holds the one upload slot with an upload that sends its first bytes, then nothing. */
async function occupySlot(): Promise<Socket> {
  const socket = await startUpload('slow.mp4');
  // The server holds the slot once it reads the part; give it that moment.
  await new Promise((r) => setTimeout(r, 300));
  return socket;
}

describe.each(Object.keys(clients))('%s', (name) => {
  it('gets the 415 of a refusal at the end of a 50 MiB upload, and can upload again', async () => {
    expect(await clients[name]!(lateRefusal, 'note.txt', 'text/plain')).toMatchObject({ status: 415, code: 'unsupported_content' });
    expect(await clients[name]!(video, 'procedure.mp4', 'video/mp4')).toMatchObject({ status: 201 });
  }, 60_000);

  it('gets 503 with Retry-After for a 50 MiB upload while the instance is at MAX_CONCURRENT_UPLOADS', async () => {
    const holder = await occupySlot();
    try {
      const answer = await clients[name]!(video, 'procedure.mp4', 'video/mp4');
      expect(answer).toMatchObject({ status: 503, code: 'upload_capacity' });
      if (answer.retryAfter !== undefined) expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    } finally {
      holder.destroy();
    }
    // The slot is free again once the holder is gone.
    await eventually(async () => expect((await clients[name]!(video, 'procedure.mp4', 'video/mp4')).status).toBe(201));
  }, 60_000);
});

describe('a client that sends its whole body before it reads (python-requests with a generator: chunked)', () => {
  it('gets the 413 of a 160 MiB video, not a reset, though the refusal came at 50 MiB', async () => {
    const script = [
      'import json, sys, requests',
      'url, token, boundary = sys.argv[1:]',
      'def body():',
      '    yield f"--{boundary}\\r\\nContent-Disposition: form-data; name=\\"file\\"; filename=\\"long.mp4\\"\\r\\nContent-Type: video/mp4\\r\\n\\r\\n".encode()',
      '    yield bytes.fromhex("000000186674797069736f6d0000020069736f6d69736f32")',
      '    chunk = bytes(1024 * 1024)',
      '    for _ in range(160):',
      '        yield chunk',
      '    yield f"\\r\\n--{boundary}--\\r\\n".encode()',
      'r = requests.post(url, headers={"Authorization": "Bearer " + token, "Content-Type": "multipart/form-data; boundary=" + boundary}, data=body())',
      'print(json.dumps({"status": r.status_code, "code": r.json().get("code")}))',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, `${t.baseUrl}/files/upload`, token, BOUNDARY], { maxBuffer: 1 << 20 });
    expect(JSON.parse(stdout)).toEqual({ status: 413, code: 'file_too_large' });
    expect(await t.rowsOf(org)).toEqual([]);
  }, 60_000);
});

describe('a client that stops reading a download', () => {
  it('is cut after DOWNLOAD_IDLE_TIMEOUT_SECONDS, and the file serves on', async () => {
    const up = await sendUpload(t.baseUrl, { fileName: 'procedure.mp4', contentType: 'video/mp4', size: 20 * MiB, content: mp4With() }, { token });
    expect(up.status).toBe(201);
    const { url } = JSON.parse(up.body) as { url: string };
    const { port } = new URL(t.baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.on('error', () => undefined);
    socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    // Take the headers and a little, then nothing for 5 s: the kernel's buffers fill and the server's writes wait.
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (c: Buffer) => (received += c.length));
    await new Promise((r) => socket.once('data', r));
    socket.pause();
    await new Promise((r) => setTimeout(r, 5000));
    // Reading again drains what the kernel holds, then meets the cut: far less than the file.
    socket.resume();
    await closed;
    expect(received).toBeLessThan(20 * MiB);
    const again = await fetch(`${t.baseUrl}${url}`, { headers: { Authorization: `Bearer ${token}` } });
    expect((await again.arrayBuffer()).byteLength).toBe(20 * MiB);
  }, 30_000);
});

describe('a client that stops sending', () => {
  it('gets 408 after UPLOAD_IDLE_TIMEOUT_SECONDS, its connection closed and its slot freed', async () => {
    const holder = await occupySlot();
    const answer = new Promise<string>((resolve) => {
      let text = '';
      holder.on('data', (c: Buffer) => (text += c.toString()));
      holder.once('close', () => resolve(text));
    });
    const started = Date.now();
    const raw = await answer;
    expect(raw).toMatch(/^HTTP\/1\.1 408 /);
    expect(raw).toMatch(/\r\nConnection: close\r\n/i);
    expect(raw).toContain('"code":"upload_stalled"');
    expect(Date.now() - started).toBeLessThan(6000);
    expect((await sendUpload(t.baseUrl, { fileName: 'a.mp4', contentType: 'video/mp4', size: 64 * 1024, content: mp4With() }, { token })).status).toBe(201);
    expect(await t.rowsOf(org)).toEqual([expect.objectContaining({ status: 'available' })]);
  });

  it('that leaves while its token is still being checked takes no slot for good', async () => {
    // Reset right after the headers: the response has closed before the upload interceptor runs.
    for (let i = 0; i < 5; i++) (await startUpload('gone.mp4')).resetAndDestroy();
    await eventually(async () => expect((await sendUpload(t.baseUrl, { fileName: 'a.mp4', contentType: 'video/mp4', size: 64 * 1024, content: mp4With() }, { token })).status).toBe(201), 5000);
    expect((await t.rowsOf(org)).map((r) => r.status)).toEqual(['available']);
  });

  it('that half-closes its connection mid-upload gets a JSON 400, frees its slot and leaves nothing', async () => {
    const holder = await occupySlot();
    const answer = new Promise<string>((resolve) => {
      let text = '';
      holder.on('data', (c: Buffer) => (text += c.toString()));
      holder.once('close', () => resolve(text));
    });
    const video = Buffer.alloc(1024 * 1024);
    mp4With()(0, video);
    holder.write(video);
    holder.end();
    // It can still read: the body it announced ended early, which is its mistake, and it hears so.
    const raw = await answer;
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/\r\nX-Request-Id: \S+/i);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ statusCode: 400, code: 'incomplete_body' });
    await eventually(async () => expect((await sendUpload(t.baseUrl, { fileName: 'a.mp4', contentType: 'video/mp4', size: 64 * 1024, content: mp4With() }, { token })).status).toBe(201));
    expect((await t.rowsOf(org)).map((r) => r.status)).toEqual(['available']);
    // Its handler then finds the answer given: nothing to add, and nothing to log as an error.
    expect(errors).toEqual([]);
  });
});
