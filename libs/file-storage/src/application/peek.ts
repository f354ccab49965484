import type { Readable } from 'node:stream';

export interface Peeked {
  /** At least `bytes` leading bytes, or the whole content if it is shorter. */
  head: Buffer;
  /** The whole content again, head included, still streaming from the source. */
  body: AsyncIterable<Buffer>;
  /** Stops reading the source when the body will not be consumed. */
  discard(): void;
}

/**
 * Reads just enough of a stream to look at its first bytes without losing
 * them and without buffering the rest.
 */
export async function peek(source: Readable, bytes: number): Promise<Peeked> {
  const iterator: AsyncIterator<Buffer> = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }

  async function* replay(): AsyncGenerator<Buffer> {
    yield* chunks.splice(0);
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }

  return {
    head: Buffer.concat(chunks),
    body: replay(),
    discard: () => void iterator.return?.(),
  };
}
