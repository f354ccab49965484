import { Readable } from 'node:stream';
import { ServiceMetrics } from '@app/common';
import { InsufficientStorageError, StorageUnavailableError, UnsupportedContentError } from '../domain/errors.js';
import { ObjectStore } from '../ports/object-store.port.js';
import { MeteredObjectStore } from './metered-object-store.js';

/** A store whose put fails with the given error after reading its body. */
function failingStore(error: Error): ObjectStore {
  return {
    put: async (_key: string, body: Readable) => {
      body.resume();
      throw error;
    },
    head: async () => Promise.reject(error),
  } as unknown as ObjectStore;
}

async function errorsCounted(metrics: ServiceMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.objectStoreErrors.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.operation}:${v.labels.code}`, v.value]));
}

describe('MeteredObjectStore', () => {
  it.each([
    ['the store unreachable', new StorageUnavailableError('The object store failed (TimeoutError)'), { 'put:storage_unavailable': 1 }],
    ['the disk full', new InsufficientStorageError(), { 'put:insufficient_storage': 1 }],
    ['the upload refused mid-stream (its body failed, not the store)', new UnsupportedContentError('not_text', 'NUL'), {}],
  ])('counts a failed put by code only when the store failed: %s', async (_case, error, counted) => {
    const metrics = new ServiceMetrics();
    const store = new MeteredObjectStore(failingStore(error), metrics);
    await expect(store.put('org/f.pdf', Readable.from([Buffer.from('x')]), { contentType: 'application/pdf' })).rejects.toBe(error);
    expect(await errorsCounted(metrics)).toEqual(counted);
  });

  it('counts every failure of the other operations, and passes the error on', async () => {
    const metrics = new ServiceMetrics();
    const error = new StorageUnavailableError('down');
    await expect(new MeteredObjectStore(failingStore(error), metrics).head('org/f.pdf')).rejects.toBe(error);
    expect(await errorsCounted(metrics)).toEqual({ 'head:storage_unavailable': 1 });
  });
});
