import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ScannerUnavailableError } from '../errors.js';

export interface ClamdOptions {
  host: string;
  port: number;
  /** Deadline for one whole command, the transfer of a 50 MB stream included. */
  timeoutMs: number;
}

/** clamd closes the connection after an idle gap; we give up well before a stall. */
const IDLE_TIMEOUT_MS = 15_000;

/**
 * A minimal clamd client for the `z`-terminated PING, VERSION and INSTREAM
 * commands. Written here rather than taken from clamdjs 1.0.2, which sets a
 * socket timeout without handling it (a stalled clamd hangs the scan after
 * the first reply byte, and PING hangs outright), treats any reply that
 * contains "OK" and not "FOUND" as clean, and leaves its socket open when the
 * input stream fails. Here every command has a deadline and an idle timeout,
 * the socket is always destroyed, and the reply is returned verbatim for a
 * strict parse.
 */
export class ClamdClient {
  constructor(private readonly options: ClamdOptions) {}

  async ping(): Promise<void> {
    const reply = await this.command('zPING\0');
    if (reply !== 'PONG') throw new ScannerUnavailableError(`clamd answered PING with "${reply}"`);
  }

  /** e.g. "ClamAV 1.0.7/27462/Sun Nov 22 09:23:04 2026" */
  version(): Promise<string> {
    return this.command('zVERSION\0');
  }

  /** Streams the content with INSTREAM and returns clamd's reply, e.g. "stream: OK". */
  instream(content: Readable): Promise<string> {
    return this.command('zINSTREAM\0', content);
  }

  private command(command: string, content?: Readable): Promise<string> {
    const { host, port, timeoutMs } = this.options;
    return new Promise<string>((resolve, reject) => {
      const socket = connect({ host, port });
      const replies: Buffer[] = [];
      let settled = false;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        socket.destroy();
        if (error) reject(error);
        else resolve(Buffer.concat(replies).toString('utf8').replace(/\0+$/, '').trim());
      };
      const unavailable = (why: string, cause?: unknown) =>
        finish(new ScannerUnavailableError(`clamd at ${host}:${port} ${why}`, { cause }));

      const deadline = setTimeout(() => unavailable(`did not answer within ${timeoutMs} ms`), timeoutMs);
      socket.setTimeout(IDLE_TIMEOUT_MS, () => unavailable(`stalled for ${IDLE_TIMEOUT_MS} ms`));
      socket.on('data', (chunk: Buffer) => replies.push(chunk));
      // clamd answers once and closes. An early answer (e.g. "INSTREAM size limit
      // exceeded. ERROR") arrives before we finish sending; it is still the answer.
      socket.once('end', () => finish());
      socket.once('error', (e) => (replies.length > 0 ? finish() : unavailable(`is unreachable (${e.message})`, e)));
      socket.once('connect', () => {
        socket.write(command);
        if (content) void this.send(content, socket).catch((e: unknown) => finish(e as Error));
      });
    });
  }

  /** INSTREAM framing: 4-byte big-endian length before each chunk, a zero length at the end. */
  private async send(content: Readable, socket: Socket): Promise<void> {
    for await (const chunk of content as AsyncIterable<Buffer>) {
      if (socket.destroyed) return;
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32BE(chunk.length, 0);
      socket.write(length);
      if (!socket.write(chunk)) await waitForDrain(socket);
    }
    if (!socket.destroyed) socket.write(Buffer.alloc(4));
  }
}

function waitForDrain(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
