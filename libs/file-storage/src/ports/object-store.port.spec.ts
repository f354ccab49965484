import { PassThrough, Readable, Writable } from 'node:stream';
import { ObjectStore } from './object-store.port.js';

const unused = (): never => {
  throw new Error('not used by writeTo');
};

/** A store whose get() hands out one readable the test holds; the rest is never called. */
class OneObjectStore extends ObjectStore {
  constructor(readonly source: Readable) {
    super();
  }
  get = async () => this.source;
  put = unused;
  head = unused;
  presign = unused;
  verifySigned = unused;
  delete = unused;
  removeUnfinished = unused;
  check = unused;
}

describe('ObjectStore.writeTo (the default, over get())', () => {
  it('writes the bytes into the destination and leaves it open', async () => {
    const store = new OneObjectStore(Readable.from([Buffer.from('%PDF-'), Buffer.from('1.7')]));
    const sink = new PassThrough();
    const received: Buffer[] = [];
    sink.on('data', (c: Buffer) => received.push(c));
    await store.writeTo('o/x.pdf', sink);
    expect(Buffer.concat(received).toString()).toBe('%PDF-1.7');
    expect(sink.writableEnded).toBe(false);
  });

  it('destroys the source when the destination was already gone (a client that left), which pipeline leaves open', async () => {
    const source = new PassThrough();
    const store = new OneObjectStore(source);
    const sink = new Writable({ write: (_c, _e, done) => done() });
    sink.destroy();
    await expect(store.writeTo('o/x.pdf', sink)).rejects.toThrow();
    expect(source.destroyed).toBe(true);
  });
});
