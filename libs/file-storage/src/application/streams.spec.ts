import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileTooLargeError, UnsupportedContentError } from '../domain/errors.js';
import { createBodyCheck } from '../domain/body-check.js';
import { measure } from './measure.js';
import { peek } from './peek.js';
import { ReaderStoppedError, tee } from './tee.js';

const chunks = (...parts: string[]) => Readable.from(parts.map((p) => Buffer.from(p)));

async function collect(stream: AsyncIterable<Buffer> | Readable): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return Buffer.concat(out).toString();
}

describe('peek', () => {
  it('returns at least the requested head and replays the whole content', async () => {
    const { head, body } = await peek(chunks('ab', 'cd', 'ef', 'gh'), 3);
    expect(head.toString()).toBe('abcd');
    expect(await collect(body)).toBe('abcdefgh');
  });

  it('returns everything when the content is shorter than the head', async () => {
    const { head, body } = await peek(chunks('ab'), 100);
    expect(head.toString()).toBe('ab');
    expect(await collect(body)).toBe('ab');
  });

  it('stops the source when discarded', async () => {
    const source = new PassThrough();
    source.write('abc');
    const { discard } = await peek(source, 2);
    discard();
    await new Promise((r) => setImmediate(r));
    expect(source.destroyed).toBe(true);
  });
});

describe('measure', () => {
  it('counts and hashes what passes through', async () => {
    const m = measure(chunks('hello ', 'world'), 100);
    expect(await collect(m.stream)).toBe('hello world');
    expect(m.result()).toEqual({
      size: 11,
      sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9',
      sha1: 'Kq5sNclPz7QV2+lfQIuc6R7oRu0=',
    });
  });

  it('accepts exactly the limit and fails one byte over it', async () => {
    await expect(collect(measure(chunks('12345'), 5).stream)).resolves.toBe('12345');
    const over = measure(chunks('123', '456'), 5);
    await expect(collect(over.stream)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(over.failure).toBeInstanceOf(FileTooLargeError);
    expect(() => over.result()).toThrow(/not read to the end/);
  });

  it('fails the stream when the body check fails at the end', async () => {
    const m = measure(chunks('{"a":'), 100, createBodyCheck('json'));
    await expect(collect(m.stream)).rejects.toBeInstanceOf(UnsupportedContentError);
  });
});

describe('tee', () => {
  it('gives both readers every byte', async () => {
    const [a, b] = tee(chunks('one ', 'two ', 'three'));
    expect(await Promise.all([collect(a), collect(b)])).toEqual(['one two three', 'one two three']);
  });

  it('moves at the pace of the slower reader instead of buffering', async () => {
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024);
      })(),
    );
    const [fast, slow] = tee(source);
    let maxAhead = 0;
    let slowBytes = 0;
    let fastBytes = 0;
    const slowSink = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, done) {
        slowBytes += chunk.length;
        setTimeout(done, 1);
      },
    });
    const fastSink = new Writable({
      write(chunk: Buffer, _e, done) {
        fastBytes += chunk.length;
        maxAhead = Math.max(maxAhead, fastBytes - slowBytes);
        done();
      },
    });
    await Promise.all([pipeline(fast, fastSink), pipeline(slow, slowSink)]);
    expect(slowBytes).toBe(64 * 64 * 1024);
    expect(maxAhead).toBeLessThan(8 * 64 * 1024);
  });

  it('stops the other reader with ReaderStoppedError when one stops iterating early, never with an AbortError', async () => {
    const many = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024);
      })(),
    );
    const [a, b] = tee(many);
    // As the clamd client does when clamd answers before the end: it leaves its loop.
    for await (const _ of b) break;
    await expect(collect(a)).rejects.toBeInstanceOf(ReaderStoppedError);
  });

  it('fails both readers when one of them gives up', async () => {
    const [a, b] = tee(chunks('x'.repeat(10), 'y'.repeat(10)));
    const failure = new Error('scanner went away');
    b.destroy(failure);
    await expect(collect(a)).rejects.toBe(failure);
  });

  it('fails both readers when the source fails', async () => {
    const source = new PassThrough();
    const [a, b] = tee(source);
    const failure = new Error('client aborted');
    source.write('partial');
    source.destroy(failure);
    await expect(collect(a)).rejects.toBe(failure);
    await expect(collect(b)).rejects.toBe(failure);
  });
});
