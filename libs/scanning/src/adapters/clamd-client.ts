import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ScannerUnavailableError } from '../errors.js';

export interface ClamdOptions {
  host: string;
  port: number;
  /** How long clamd may take to answer once it has the whole stream (the scan itself). */
  timeoutMs: number;
}

/** Connecting, and simple commands (PING, VERSION), never take longer than this. */
const COMMAND_TIMEOUT_MS = 5_000;
/** clamd not accepting more data for this long while we send is a stalled clamd. */
const STALL_TIMEOUT_MS = 15_000;

/**
 * A minimal clamd client for the `z`-terminated PING, VERSION and INSTREAM
 * commands. Written here rather than taken from clamdjs 1.0.2, which sets a
 * socket timeout without handling it (a stalled clamd hangs the scan after
 * the first reply byte, and PING hangs outright), treats any reply that
 * contains "OK" and not "FOUND" as clean, and leaves its socket open when the
 * input stream fails.
 *
 * Each phase has its own bound, so slowness is blamed on whoever causes it:
 * the uploading client's pace is not clamd's (the HTTP request timeout bounds
 * it); clamd refusing data while we send, or not answering within `timeoutMs`
 * after the last byte, is.
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
      let timer: NodeJS.Timeout | undefined;
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (error) reject(error);
        else resolve(Buffer.concat(replies).toString('utf8').replace(/\0+$/, '').trim());
      };
      // The client reads what happened; where clamd runs is for the log (the cause), not for it.
      const unavailable = (why: string, cause?: unknown) =>
        finish(new ScannerUnavailableError(`The virus scanner ${why}`, { cause: cause ?? new Error(`clamd at ${host}:${port} ${why}`) }));
      /** (Re)arms the single timer of the current phase. */
      const within = (ms: number, why: string) => {
        clearTimeout(timer);
        timer = setTimeout(() => unavailable(why), ms);
      };

      within(COMMAND_TIMEOUT_MS, `did not accept a connection within ${COMMAND_TIMEOUT_MS} ms`);
      socket.on('data', (chunk: Buffer) => replies.push(chunk));
      // clamd answers once and closes. An early answer (e.g. "INSTREAM size limit
      // exceeded. ERROR") arrives before we finish sending; it is still the answer.
      socket.once('end', () => finish());
      socket.once('error', (e) => (replies.length > 0 ? finish() : unavailable('is unreachable', new Error(`clamd at ${host}:${port}: ${e.message}`, { cause: e }))));
      socket.once('connect', () => {
        socket.write(command);
        if (!content) return within(COMMAND_TIMEOUT_MS, `did not answer within ${COMMAND_TIMEOUT_MS} ms`);
        clearTimeout(timer);
        this.send(content, socket, (why) => unavailable(why)).then(
          () => within(timeoutMs, `gave no verdict within ${timeoutMs} ms of the end of the stream`),
          (e: unknown) => finish(e as Error),
        );
      });
    });
  }

  /** INSTREAM framing: 4-byte big-endian length before each chunk, a zero length at the end. */
  private async send(content: Readable, socket: Socket, stalled: (why: string) => void): Promise<void> {
    for await (const chunk of content as AsyncIterable<unknown>) {
      if (socket.destroyed) return;
      if (!Buffer.isBuffer(chunk)) throw new TypeError('INSTREAM content must be a stream of Buffers');
      // A zero length is the end-of-stream marker: sending one early would end the scan there.
      if (chunk.length === 0) continue;
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32BE(chunk.length, 0);
      socket.write(length);
      if (!socket.write(chunk)) await waitForDrain(socket, stalled);
    }
    if (!socket.destroyed) socket.write(Buffer.alloc(4));
  }
}

function waitForDrain(socket: Socket, stalled: (why: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stalled(`stopped reading the stream for ${STALL_TIMEOUT_MS} ms`);
      done();
    }, STALL_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
