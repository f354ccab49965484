// A throwaway single-node Ceph RADOS Gateway: a real S3 server for the tests (s3rver does not
// verify signatures nor implement ListMultipartUploads/AbortMultipartUpload).
//
// Library: `const rgw = await startRgw(); ...; await rgw.stop();`
// CLI (for scripts/test.sh, which starts one per test run):
//   node test/support/rgw.mjs start <stateFile>   # daemons keep running after node exits
//   node test/support/rgw.mjs stop <stateFile>
//
// Plain ESM JavaScript so that bash can run it without a build. Needs the Debian packages
// ceph-mon, ceph-osd and radosgw (scripts/ensure-ceph.sh). The settings and the bootstrap
// order are the ones measured to work in /work/shared/ENVIRONMENT.md.

import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';

const REGION = 'us-east-1';
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 10_000;
/** Keys of the "testing" KMS backend, usable as SSEKMSKeyId. */
export const KMS_KEY_IDS = ['testkey-1', 'testkey-2'];

const run = promisify(execFile);

/**
 * Starts mon → osd → radosgw in one new temp dir (or `dir`, which stop() removes as well) and
 * resolves once a signed S3 request is answered. `detached` lets the daemons outlive this
 * process (CLI mode); otherwise they share its process group, so Ctrl-C on a test run takes
 * them down too. Aborting `signal` cancels a start in progress and cleans up.
 */
export async function startRgw({ dir, log = () => {}, detached = false, signal } = {}) {
  signal?.throwIfAborted();
  if (dir) await mkdir(dir, { recursive: true });
  else dir = await mkdtemp(join(tmpdir(), 'rgw-'));
  const conf = join(dir, 'ceph.conf');
  const pids = {};
  // Aborted with a DaemonExit when a daemon dies during start-up, so a failed start
  // (say, a port taken between picking and binding it) fails now rather than at a timeout.
  const failed = new AbortController();
  signal?.addEventListener('abort', () => failed.abort(signal.reason), { once: true });
  let stage = 'mon.a'; // the daemon whose log explains a failure of the current step
  const ctx = { dir, signal: failed.signal };
  const ceph = (cmd, args) => tool(cmd, ['-c', conf, ...args], ctx);
  const launch = (name, cmd, args, logName) => {
    const onExit = (code) => failed.abort(new DaemonExit(name, code, logName));
    pids[name] = daemon(cmd, ['-f', '-c', conf, ...args], { dir, logName, detached, onExit });
  };
  try {
    const [monPort, rgwPort] = await freePorts(2);
    const fsid = randomUUID();
    const kmsKeys = KMS_KEY_IDS.map((id) => `${id}=${randomBytes(32).toString('base64')}`).join(' ');
    for (const sub of ['mon', 'osd', 'rgw', 'run', 'log']) await mkdir(join(dir, sub));
    await writeFile(conf, cephConf({ dir, fsid, monPort, rgwPort, kmsKeys }));

    log(`rgw: bootstrapping in ${dir}`);
    await ceph('ceph-authtool', ['--create-keyring', join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await ceph('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')]);
    await ceph('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', join(dir, 'keyring')]);
    launch('mon', 'ceph-mon', ['-i', 'a'], 'mon.a');

    // The CLI waits for the monitor to form a quorum: this is also the mon readiness check.
    const osdUuid = randomUUID();
    const osdId = (await ceph('ceph', ['--connect-timeout', String(READY_TIMEOUT_MS / 1000), 'osd', 'new', osdUuid])).stdout.trim();
    await ceph('ceph-osd', ['--mkfs', '-i', osdId, '--osd-uuid', osdUuid]);
    launch('osd', 'ceph-osd', ['-i', osdId], `osd.${osdId}`);
    launch('rgw', 'radosgw', ['-n', 'client.rgw.a'], 'client.rgw.a');
    stage = 'client.rgw.a';

    const endpoint = `http://127.0.0.1:${rgwPort}`;
    // radosgw opens its port only once it has created its pools, i.e. once the OSD serves I/O;
    // creating the user before that would race radosgw over creating the default zone.
    const answers = (signal) =>
      fetch(endpoint, { signal }).then((response) => response.body?.cancel().then(() => true) ?? true, () => false);
    await until(answers, 'radosgw to open its port', ctx);

    const accessKeyId = randomKey('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 20);
    const secretAccessKey = randomKey('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 40);
    await ceph('radosgw-admin', ['user', 'create', '--uid=test', '--display-name=test', `--access-key=${accessKeyId}`,
      `--secret-key=${secretAccessKey}`]);

    const client = s3Client({ endpoint, accessKeyId, secretAccessKey });
    try {
      const signedAnswer = (abortSignal) => client.send(new ListBucketsCommand({}), { abortSignal }).then(() => true, () => false);
      await until(signedAnswer, 'a signed S3 request to succeed', ctx);
    } finally {
      client.destroy();
    }
    log(`rgw: S3 at ${endpoint}`);
    return { endpoint, accessKeyId, secretAccessKey, region: REGION, dir, pids, stop: () => stopRgw({ dir, pids }) };
  } catch (error) {
    const cause = failed.signal.aborted ? failed.signal.reason : error;
    // Read the logs before stopRgw deletes them.
    const message = `RGW start-up failed: ${cause.message}${await logTail(dir, cause.logName ?? stage)}`;
    await stopRgw({ dir, pids });
    throw new Error(message, { cause });
  }
}

class DaemonExit extends Error {
  constructor(name, code, logName) {
    super(`ceph ${name} exited (${code}) during start-up`);
    this.logName = logName;
  }
}

/** Stops radosgw, then the OSD, then the monitor (radosgw hangs ~2 min if the cluster goes first), and removes `dir`. */
export async function stopRgw({ dir, pids }) {
  for (const name of ['rgw', 'osd', 'mon']) if (pids[name]) await terminate(pids[name], dir);
  await rm(dir, { recursive: true, force: true });
}

/** The SDK client configured as the service configures its own. */
export function s3Client({ endpoint, accessKeyId, secretAccessKey }) {
  return new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    // The default WHEN_SUPPORTED streams aws-chunked bodies, which RGW 16 rejects with 411.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function cephConf({ dir, fsid, monPort, rgwPort, kmsKeys }) {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public network = 127.0.0.0/8
# No cephx: the cluster lives for one test run on loopback. "none" only works over crc,
# and radosgw defaults to secure mode (it then loops on get_initial_auth_request -13).
auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
# Everything under the temp dir, nothing under /var.
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon cluster log to file = false
keyring = ${dir}/keyring
# One OSD: pools of size 1, placement across OSDs rather than hosts, few PGs.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false

[mon]
mon data = ${dir}/mon
# The monitor shuts itself down when its disk is 95% full; a nearly full CI disk should not
# take the test S3 server with it.
mon data avail crit = 0
# Each of radosgw's pool creations otherwise waits ~1 s for the next paxos round.
paxos propose interval = 0.05
paxos min wait = 0.01

[osd]
osd data = ${dir}/osd
# In RAM: starts in seconds, and the data dies with the process. RAM is taken only as objects
# are written and given back as they are deleted (see the gc settings below); a full OSD
# blocks writes rather than failing them, so leave room for the busiest moment of a run.
osd objectstore = memstore
memstore device bytes = ${8 * 1024 ** 3}

[client.rgw.a]
rgw data = ${dir}/rgw
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
# SSE over plain HTTP. Deliberately no "rgw crypt default encryption key": without one,
# AES256 is accepted but not applied nor confirmed, a case the service must detect.
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = ${kmsKeys}
# Deleted objects' data and aborted multipart parts are freed by radosgw's garbage collector,
# after two hours by default: the tests refuse and delete gigabytes within minutes.
rgw gc obj min wait = 1
rgw gc processor period = 2
rgw gc processor max time = 2
`;
}

/** A one-shot ceph tool, killed if start-up fails meanwhile. */
async function tool(cmd, args, { signal }) {
  try {
    return await run(cmd, args, { signal, timeout: READY_TIMEOUT_MS + 10_000, maxBuffer: 16 << 20 });
  } catch (error) {
    signal.throwIfAborted();
    throw new Error(`${cmd} ${args.join(' ')} failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}

/**
 * Launches a daemon through bash to close every inherited descriptor above stderr first: Node
 * passes on those it did not open itself (a lock fd 42 or a pipe of a calling script does get
 * through), and the daemon would hold it as long as it runs (a second locked start blocks; a
 * caller reading the pipe never sees EOF). `exec` keeps the pid the daemon's own.
 */
function daemon(cmd, args, { dir, logName, detached, onExit }) {
  const out = openSync(join(dir, 'log', `${logName}.out`), 'a');
  const closeFds = 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && exec {fd}>&-; done 2>/dev/null; exec "$@"';
  const child = spawn('bash', ['-c', closeFds, cmd, cmd, ...args], { stdio: ['ignore', out, out], detached });
  closeSync(out);
  child.once('exit', (code, signal) => onExit(code ?? signal));
  child.once('error', (error) => onExit(error.message));
  if (detached) child.unref();
  return child.pid;
}

/**
 * Polls `check` every 250 ms until it is true, the deadline passes or start-up fails. Each
 * attempt gets a signal that ends it after 5 s, as a port that accepts but never answers
 * would otherwise hold one attempt for minutes.
 */
async function until(check, what, { signal }) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await check(AbortSignal.any([signal, AbortSignal.timeout(5_000)])))) {
    signal.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

async function logTail(dir, logName, lines = 30) {
  let text = '';
  for (const file of [`${logName}.log`, `${logName}.out`]) {
    const content = await readFile(join(dir, 'log', file), 'utf8').catch(() => '');
    if (content.trim()) text += `\n--- ${file} (last ${lines} lines) ---\n${content.trimEnd().split('\n').slice(-lines).join('\n')}`;
  }
  return text;
}

/** SIGTERM, then SIGKILL after a grace period; only if the pid still runs a daemon of this `dir`. */
async function terminate(pid, dir) {
  if (!(await ours(pid, dir))) return;
  kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    kill(pid, 'SIGKILL');
    while (alive(pid)) await sleep(50);
  }
}

/** Ignores a daemon that exited in the meantime. */
function kill(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error;
  }
}

/** Guards against pid reuse, since CLI stop only knows pids from a state file. */
async function ours(pid, dir) {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return alive(pid) && cmdline.includes(join(dir, 'ceph.conf'));
}

/** A zombie counts as gone: in CLI mode the daemons are reaped by whoever adopted them. */
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function freePorts(count) {
  const servers = [];
  try {
    // Held open together so the ports differ.
    for (let i = 0; i < count; i++) {
      const server = createServer();
      await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
      servers.push(server);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function randomKey(alphabet, length) {
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function cli([command, stateFile]) {
  if (command === 'start' && stateFile) {
    // The daemons are detached, so an interrupted start must stop them itself.
    const interrupted = new AbortController();
    for (const name of ['SIGINT', 'SIGTERM']) process.once(name, () => interrupted.abort(new Error(`interrupted by ${name}`)));
    const { stop, ...state } = await startRgw({ detached: true, signal: interrupted.signal, log: (line) => console.error(line) });
    await writeFile(stateFile, JSON.stringify(state, null, 2));
  } else if (command === 'stop' && stateFile) {
    // No state file: the start failed (and cleaned up) or never ran; an EXIT trap may still call stop.
    const state = await readFile(stateFile, 'utf8').catch((error) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
    if (state) await stopRgw(JSON.parse(state));
    await rm(stateFile, { force: true });
  } else {
    console.error('usage: node test/support/rgw.mjs start|stop <stateFile>');
    process.exitCode = 2;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  cli(process.argv.slice(2)).catch((error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
}
