import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode =
  /** Bytes flow both ways. */
  | 'pass'
  /** Every open connection is reset and new ones are refused at once, as when the server process dies. */
  | 'down'
  /** Connections are accepted and bytes swallowed, nothing ever comes back: a hung or saturated server. */
  | 'hang';

export interface FaultProxy {
  /** host:port of the proxy, to use in place of the real server's. */
  readonly host: string;
  readonly port: number;
  /** Bytes forwarded towards the server since the proxy started. */
  readonly bytesToServer: number;
  set(mode: FaultMode): void;
  /** Holds every byte from the server for `ms` before the client gets it, in order: a slow network, or a server slow to answer. */
  delayAnswers(ms: number): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of a real server (Postgres, clamd, the S3 server) that
 * a test can make fail at any moment: the service under test talks to the
 * real thing over the network, and the failure is the network's or the
 * server's, never a mock's.
 */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: FaultMode = 'pass';
  let bytesToServer = 0;
  let answerDelayMs = 0;
  const open = new Set<Socket>();

  const server: Server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'hang') {
      client.resume();
      return;
    }
    const upstream = connect(target);
    open.add(upstream);
    upstream.once('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.resetAndDestroy());
    client.once('close', () => upstream.destroy());
    client.on('data', (chunk: Buffer) => {
      if (mode === 'hang') return;
      bytesToServer += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    // Bytes held back (delayAnswers), in the order they came, each with when it may go.
    const held: Array<{ at: number; chunk: Buffer }> = [];
    let releasing: NodeJS.Timeout | undefined;
    const release = () => {
      releasing = undefined;
      while (held.length > 0 && held[0]!.at <= Date.now()) client.write(held.shift()!.chunk);
      if (held.length > 0) releasing = setTimeout(release, held[0]!.at - Date.now());
    };
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'hang') return;
      if (answerDelayMs > 0 || held.length > 0) {
        // Never before an earlier byte, whatever the delay was then.
        held.push({ at: Math.max(Date.now() + answerDelayMs, held.at(-1)?.at ?? 0), chunk });
        releasing ??= setTimeout(release, held[0]!.at - Date.now());
      } else if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.once('end', () => upstream.end());
    upstream.once('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    host: '127.0.0.1',
    port,
    get bytesToServer() {
      return bytesToServer;
    },
    delayAnswers(ms) {
      answerDelayMs = ms;
    },
    set(next) {
      mode = next;
      if (next === 'down') for (const socket of open) socket.resetAndDestroy();
      // A hung server still holds its sockets: nothing more flows, nothing is closed.
      if (next === 'hang') for (const socket of open) socket.resume();
    },
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
