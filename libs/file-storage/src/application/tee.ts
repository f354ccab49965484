import { PassThrough, type Readable } from 'node:stream';

/** Stops one branch because its reader settled before the end; never the root cause of a failure. */
export class ReaderStoppedError extends Error {
  constructor() {
    super('A reader stopped before the end of the content');
    this.name = 'ReaderStoppedError';
  }
}

/**
 * Splits one stream into two that each see every chunk, at the pace of the
 * slower reader (no unbounded buffering). An error on the source, or a
 * destroyed branch, destroys both branches (a branch destroyed without an
 * error passes ReaderStoppedError on).
 */
export function tee(source: Readable): [Readable, Readable] {
  const branches = [new PassThrough(), new PassThrough()] as const;
  const fail = (error: Error) => {
    source.destroy(error);
    for (const b of branches) b.destroy(error);
  };

  source.on('data', (chunk: Buffer) => {
    const waiting = branches.filter((b) => !b.write(chunk));
    if (waiting.length === 0) return;
    source.pause();
    let pending = waiting.length;
    for (const b of waiting) b.once('drain', () => --pending === 0 && source.resume());
  });
  source.once('end', () => branches.forEach((b) => b.end()));
  source.once('error', fail);
  for (const b of branches) {
    // Errors reach each reader through the stream itself (reads reject,
    // pipelines fail); without a listener a branch destroyed before its
    // reader attached, or after it left, would crash the process instead.
    b.on('error', () => undefined);
    b.once('close', () => {
      // A reader that stopped iterating early leaves an AbortError behind: that too is only a stop.
      if (!b.writableFinished) fail(b.errored && b.errored.name !== 'AbortError' ? b.errored : new ReaderStoppedError());
    });
  }
  return [branches[0], branches[1]];
}
