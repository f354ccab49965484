import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './environment.js';

export interface LoadBalancer {
  /** http://127.0.0.1:<port> */
  url: string;
  stop(): Promise<void>;
}

/**
 * A real haproxy in front of replicas of the service, standing in for a
 * Kubernetes Service and Ingress: it takes a replica out of rotation when its
 * readiness probe fails twice in a row (checked every 400 ms, 1 s to answer),
 * and back in when it passes twice. It streams request bodies (no buffering, like ingress-nginx
 * with proxy-request-buffering off) and retries only a request that never
 * reached a replica (connection refused), which is always safe.
 */
export async function startHaproxy(port: number, backends: number[]): Promise<LoadBalancer> {
  const dir = tempDir('haproxy-');
  const config = [
    'global',
    '  maxconn 2000',
    `  log stderr format raw local0`,
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  timeout connect 2s',
    '  timeout client 320s',
    '  timeout server 320s',
    '  timeout http-request 320s',
    '  retries 3',
    '  option redispatch',
    '  retry-on conn-failure',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    '  option httpchk GET /health/ready',
    '  http-check expect status 200',
    // Like a Kubernetes readiness probe (period, failureThreshold, timeout), only faster.
    '  default-server inter 400ms fall 2 rise 2',
    '  timeout check 1s',
    ...backends.map((p, i) => `  server replica${i} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), config);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    // HAPROXY_LOG=<file> keeps its log (one line per request, with who ended it), for a failure to be read.
    if (process.env.HAPROXY_LOG) appendFileSync(process.env.HAPROXY_LOG, d);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    try {
      await fetch(`${url}/health/live`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
