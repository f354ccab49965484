import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { ClamavVirusScanner } from '../../libs/scanning/src/adapters/clamav-virus-scanner.js';
import { ClamdClient } from '../../libs/scanning/src/adapters/clamd-client.js';
import { ScannerUnavailableError } from '../../libs/scanning/src/errors.js';
import { startClamd, type Clamd } from '../support/clamd.js';

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');

let clamd: Clamd;
let client: ClamdClient;
beforeAll(async () => {
  clamd = await startClamd();
  client = new ClamdClient({ host: '127.0.0.1', port: clamd.port, timeoutMs: 10_000 });
});
afterAll(() => clamd.stop());

describe('ClamdClient against a real clamd', () => {
  it('answers PING and VERSION', async () => {
    await expect(client.ping()).resolves.toBeUndefined();
    expect(await client.version()).toMatch(/^ClamAV /);
  });

  it('finds EICAR and passes clean content', async () => {
    expect(await client.instream(Readable.from([EICAR]))).toBe('stream: Eicar-Test-Signature.UNOFFICIAL FOUND');
    expect(await client.instream(Readable.from([Buffer.from('clean note')]))).toBe('stream: OK');
  });

  it('skips empty chunks instead of ending the stream early with them', async () => {
    const chunks = [EICAR.subarray(0, 10), Buffer.alloc(0), EICAR.subarray(10)];
    expect(await client.instream(Readable.from(chunks))).toMatch(/Eicar-Test-Signature.* FOUND$/);
  });

  it('never takes a stream over StreamMaxLength for clean: ScannerUnavailableError, however clamd refuses it', async () => {
    // clamd answers "INSTREAM size limit exceeded" and closes while the client is still sending. Whether
    // that answer arrives before the reset of the unread data depends on timing, so the scanner's
    // promise, not the wire, is what is checked: either way no verdict, never "clean".
    const scanner = new ClamavVirusScanner(client);
    for (let round = 0; round < 3; round++) {
      const big = Array.from({ length: 70 }, () => Buffer.alloc(1024 * 1024, 1));
      await expect(scanner.scan(Readable.from(big))).rejects.toBeInstanceOf(ScannerUnavailableError);
    }
  });
});

describe('ClamdClient when clamd misbehaves', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts and reads everything but never answers: a clamd hung mid-scan.
    silent = createServer((s) => {
      sockets.push(s);
      s.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });
  afterAll(() => {
    sockets.forEach((s) => s.destroy());
    silent.close();
  });

  it('gives up with ScannerUnavailableError once the verdict is overdue, counted from the end of the stream', async () => {
    const port = (silent.address() as AddressInfo).port;
    const slow = new ClamdClient({ host: '127.0.0.1', port, timeoutMs: 500 });
    const started = Date.now();
    // The content itself takes 800 ms to arrive: that is not clamd's fault and must not count.
    const content = Readable.from(
      (async function* () {
        yield Buffer.from('part one');
        await new Promise((r) => setTimeout(r, 800));
        yield Buffer.from('part two');
      })(),
    );
    await expect(slow.instream(content)).rejects.toThrow(/no verdict within 500 ms of the end of the stream/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1200);
  });

  it('reports an unreachable clamd as ScannerUnavailableError', async () => {
    await expect(new ClamdClient({ host: '127.0.0.1', port: 9, timeoutMs: 500 }).ping()).rejects.toBeInstanceOf(ScannerUnavailableError);
  });
});
