import { Readable } from 'node:stream';
import { jest } from '@jest/globals';
import { ServiceMetrics } from '@app/common';
import { loadConfig } from '@app/config';
import { VirusScanner, type ScanVerdict } from '@app/scanning';
import { parseOrganizationId } from '@app/tenancy';
import { FileTooLargeError, InfectedFileError, ScanIncompleteError, StorageUnavailableError, UnsupportedContentError } from '../domain/errors.js';
import type { AvailableFile, HeldFile } from '../domain/stored-file.js';
import { FileRecordRepository } from '../ports/file-record.repository.port.js';
import { ObjectStore } from '../ports/object-store.port.js';
import { FileStorageService } from './file-storage.service.js';

const ORG = parseOrganizationId('org-unit')!;
const PDF = Buffer.from('%PDF-1.7\nunit test body\n%%EOF\n');

/** A strict mock: every method the test did not arrange throws when called. */
function strict<T extends object>(name: string, arranged: Partial<Record<keyof T, unknown>> = {}): T {
  return new Proxy(arranged as T, {
    get(target, prop) {
      if (prop in target) return (target as Record<string | symbol, unknown>)[prop];
      if (prop === 'then') return undefined;
      throw new Error(`Unexpected call to ${name}.${String(prop)}`);
    },
  });
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function setup(
  opts: { scanner?: VirusScanner; put?: (key: string, body: Readable) => Promise<void>; maxBytes?: number; deleteObject?: () => Promise<void> } = {},
) {
  const written: Record<string, Buffer> = {};
  const store = strict<ObjectStore>('store', {
    put: jest.fn(opts.put ?? (async (key: string, body: Readable) => void (written[key] = await drain(body)))),
    delete: jest.fn(opts.deleteObject ?? (async () => undefined)),
    removeUnfinished: jest.fn(async () => undefined),
  });
  const records = strict<FileRecordRepository>('records', {
    insertPending: jest.fn(async () => undefined),
    markAvailable: jest.fn(async (organizationId, id, facts) => ({ organizationId, id, ...(facts as object) }) as unknown as AvailableFile),
    markChecked: jest.fn(async (organizationId, id, facts) => ({ organizationId, id, status: 'pending', ...(facts as object) }) as unknown as HeldFile),
    confirm: jest.fn(async () => undefined),
    remove: jest.fn(async () => undefined),
  });
  const scanner = opts.scanner ?? strict<VirusScanner>('scanner', { enabled: false });
  const config = loadConfig({ MAX_UPLOAD_BYTES: String(opts.maxBytes ?? 1024 * 1024) });
  return { service: new FileStorageService(config, store, records, scanner, new ServiceMetrics()), store, records, written };
}

/** Lets a cleanup that goes on after the answer run to its end. */

const upload = (service: FileStorageService, content: Buffer | Readable, fileName = 'lab.pdf') =>
  service.upload(ORG, { content: content instanceof Readable ? content : Readable.from([content]), fileName, declaredType: 'application/pdf' });

function scannerAnswering(verdict: () => Promise<ScanVerdict>): VirusScanner {
  return strict<VirusScanner>('scanner', {
    enabled: true,
    scan: jest.fn(async (content: Readable) => {
      await drain(content);
      return verdict();
    }),
  });
}

describe('FileStorageService.hold, confirm and abandon', () => {
  it('stores and checks like an upload but leaves the record pending; confirm makes it available, abandon removes bytes and record', async () => {
    const { service, store, records, written } = setup();
    const facts = await service.hold(ORG, { content: Readable.from([PDF]), fileName: 'lab.pdf', declaredType: 'application/pdf' });
    const { fileName } = (records.insertPending as jest.Mock).mock.calls[0]![0] as { fileName: string };
    const held = { ...facts, fileName };
    const key = `${ORG}/${fileName}`;
    expect(written[key]!.equals(PDF)).toBe(true);
    expect(records.markAvailable).not.toHaveBeenCalled();
    expect(records.markChecked).toHaveBeenCalledWith(ORG, held.id, expect.objectContaining({ size: PDF.length }));
    await service.confirm(ORG, [held]);
    expect(records.confirm).toHaveBeenCalledWith(ORG, [held.id]);
    await service.abandon(ORG, [held]);
    expect(store.delete).toHaveBeenCalledWith(key);
    expect(records.remove).toHaveBeenCalledWith(ORG, held.id);
  });

  it('refuses held content as any upload, keeping nothing', async () => {
    const { service, records } = setup();
    await expect(service.hold(ORG, { content: Readable.from([PDF]), fileName: 'lab.png', declaredType: 'image/png' })).rejects.toThrow(/declared type/);
    expect(records.markChecked).not.toHaveBeenCalled();
  });
});

describe('FileStorageService.upload', () => {
  it('asks for what commits with the mark (the audit record) with the stored key, once the bytes are written, and hands it to the mark', async () => {
    const { service, store, records } = setup();
    const rider = { expression: () => 'x()', settle: () => undefined };
    const alongside = jest.fn((_key: string) => rider);
    const file = await service.upload(ORG, { content: Readable.from([PDF]), fileName: 'lab.pdf', declaredType: 'application/pdf', alongside });
    const { fileName } = (records.insertPending as jest.Mock).mock.calls[0]![0] as { fileName: string };
    expect(alongside.mock.calls).toEqual([[`${ORG}/${fileName}`]]);
    expect(records.markAvailable).toHaveBeenCalledWith(ORG, file.id, expect.objectContaining({ size: PDF.length }), rider);
    const order = [store.put, alongside, records.markAvailable].map((m) => (m as jest.Mock).mock.invocationCallOrder[0]);
    expect(order).toEqual([...order].sort((a, b) => a! - b!));
  });

  it('never asks for it for an upload it refuses', async () => {
    const { service } = setup();
    const alongside = jest.fn(() => undefined);
    const refused = service.upload(ORG, { content: Readable.from([PDF]), fileName: 'photo.png', declaredType: 'image/png', alongside });
    await expect(refused).rejects.toBeInstanceOf(UnsupportedContentError);
    expect(alongside).not.toHaveBeenCalled();
  });

  it('records pending, writes the bytes, then marks available with size and hash', async () => {
    const { service, store, records, written } = setup();
    const file = await upload(service, PDF);

    const pending = (records.insertPending as jest.Mock).mock.calls[0]![0] as { fileName: string };
    const key = `${ORG}/${pending.fileName}`;
    expect(pending).toMatchObject({ organizationId: ORG, originalName: 'lab.pdf', contentType: 'application/pdf' });
    expect(written[key]!.equals(PDF)).toBe(true);
    expect(records.markAvailable).toHaveBeenCalledWith(ORG, file.id, expect.objectContaining({ size: PDF.length, scanStatus: 'not_scanned', scanEngine: null }), undefined);
    const order = [records.insertPending, store.put, records.markAvailable].map((m) => (m as jest.Mock).mock.invocationCallOrder[0]);
    expect(order).toEqual([...order].sort((a, b) => a! - b!));
  });

  it('refuses a type mismatch before touching the repository or the store', async () => {
    const { service, store, records } = setup();
    await expect(upload(service, PDF, 'photo.png')).rejects.toBeInstanceOf(UnsupportedContentError);
    expect(records.insertPending).not.toHaveBeenCalled();
    expect(store.put).not.toHaveBeenCalled();
  });

  it('removes bytes and row when the content turns out too large mid-stream', async () => {
    const { service, store, records } = setup({ maxBytes: 10_000 });
    // The first 4100 bytes pass the type check; the limit is crossed afterwards.
    const big = Readable.from([PDF, Buffer.alloc(3000), Buffer.alloc(3000), Buffer.alloc(3000), Buffer.alloc(3000)]);
    await expect(upload(service, big)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(store.delete).toHaveBeenCalledTimes(1);
    expect(records.remove).toHaveBeenCalledTimes(1);
    expect(records.markAvailable).not.toHaveBeenCalled();
  });

  it('removes the row when the store fails, and reports the store error', async () => {
    const failure = new Error('disk full');
    const { service, records } = setup({ put: async () => Promise.reject(failure) });
    await expect(upload(service, PDF)).rejects.toBe(failure);
    expect(records.remove).toHaveBeenCalledWith(ORG, expect.any(String));
  });

  it('answers a refusal once its bytes and row are gone, including a multipart upload the put left', async () => {
    const { service, store, records } = setup({ maxBytes: 10_000, deleteObject: () => new Promise((r) => setTimeout(r, 200)) });
    const big = Readable.from([PDF, Buffer.alloc(5000), Buffer.alloc(5000), Buffer.alloc(5000)]);
    await expect(upload(service, big)).rejects.toBeInstanceOf(FileTooLargeError);
    expect(store.removeUnfinished).toHaveBeenCalledTimes(1);
    expect(records.remove).toHaveBeenCalledTimes(1);
  });

  it('answers a store outage without waiting for a cleanup the store holds up', async () => {
    const outage = new StorageUnavailableError('The object store failed (TimeoutError)');
    const { service, records } = setup({ put: async () => Promise.reject(outage), deleteObject: () => new Promise(() => undefined) });
    await expect(upload(service, PDF)).rejects.toBe(outage);
    expect(records.remove).not.toHaveBeenCalled();
  });

  it('reports the content refusal, not the failed abort of the write it caused', async () => {
    // An S3 multipart upload whose abort fails rejects with the abort's error, not the body's.
    const abortFailed = new Error('AbortMultipartUpload: connection refused');
    const { service } = setup({
      maxBytes: 10_000,
      put: async (_key, body) => {
        await drain(body).catch(() => undefined);
        throw abortFailed;
      },
    });
    const big = Readable.from([PDF, Buffer.alloc(5000), Buffer.alloc(5000), Buffer.alloc(5000)]);
    await expect(upload(service, big)).rejects.toBeInstanceOf(FileTooLargeError);
  });

  describe('with scanning on', () => {
    it('scans the same bytes beside the write and records the clean verdict', async () => {
      const scanner = scannerAnswering(async () => ({ status: 'clean', engine: 'ClamAV 1.0/27000' }));
      const { service, records, written } = setup({ scanner });
      await upload(service, PDF);
      expect(Object.values(written)[0]!.equals(PDF)).toBe(true);
      expect(records.markAvailable).toHaveBeenCalledWith(ORG, expect.any(String), expect.objectContaining({ scanStatus: 'clean', scanEngine: 'ClamAV 1.0/27000' }), undefined);
    });

    it('refuses an infected file and keeps nothing', async () => {
      const scanner = scannerAnswering(async () => ({ status: 'infected', signature: 'Eicar-Test-Signature', engine: 'ClamAV' }));
      const { service, store, records } = setup({ scanner });
      await expect(upload(service, PDF)).rejects.toEqual(new InfectedFileError('Eicar-Test-Signature'));
      expect(store.delete).toHaveBeenCalledTimes(1);
      expect(records.remove).toHaveBeenCalledTimes(1);
      expect(records.markAvailable).not.toHaveBeenCalled();
    });

    it('fails closed when the scanner fails, even after the bytes were written', async () => {
      const outage = new Error('clamd unreachable');
      const scanner = strict<VirusScanner>('scanner', { enabled: true, scan: jest.fn(async () => Promise.reject(outage)) });
      const { service, store, records } = setup({ scanner });
      await expect(upload(service, PDF)).rejects.toBe(outage);
      expect(records.markAvailable).not.toHaveBeenCalled();
      expect(records.remove).toHaveBeenCalledTimes(1);
      expect(store.removeUnfinished).toHaveBeenCalledTimes(1);
    });

    it('fails closed on a verdict that is neither clean nor infected', async () => {
      const scanner = scannerAnswering(async () => ({ status: 'error' }) as unknown as ScanVerdict);
      const { service, records } = setup({ scanner });
      await expect(upload(service, PDF)).rejects.toThrow(/did not complete/);
      expect(records.markAvailable).not.toHaveBeenCalled();
    });

    it('fails closed, without hanging, when the scanner answers clean before reading everything', async () => {
      const scanner = strict<VirusScanner>('scanner', {
        enabled: true,
        scan: jest.fn(async () => ({ status: 'clean', engine: 'lazy' }) as ScanVerdict),
      });
      const { service, records } = setup({ scanner });
      const big = Readable.from([PDF, ...Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024))]);
      await expect(upload(service, big)).rejects.toBeInstanceOf(ScanIncompleteError);
      expect(records.markAvailable).not.toHaveBeenCalled();
      // The scanner's failure does not hold up the cleanup: it is done before the answer.
      expect(records.remove).toHaveBeenCalledTimes(1);
    });

    it('reports the store failure, not the scanner being stopped because of it', async () => {
      const scanner = scannerAnswering(async () => ({ status: 'clean', engine: 'e' }));
      const outage = new Error('S3 is down');
      const { service } = setup({
        scanner,
        put: async (_key, body) => {
          body.resume();
          throw outage;
        },
      });
      await expect(upload(service, Readable.from([PDF, Buffer.alloc(200_000)]))).rejects.toBe(outage);
    });

    it('reports the content problem, not the scanner error it caused', async () => {
      const scanner = strict<VirusScanner>('scanner', {
        enabled: true,
        scan: jest.fn(async (content: Readable) => {
          await drain(content).catch(() => undefined);
          throw new Error('scanner saw a broken stream');
        }),
      });
      const { service } = setup({ scanner, maxBytes: 10_000 });
      const big = Readable.from([PDF, Buffer.alloc(5000), Buffer.alloc(5000), Buffer.alloc(5000)]);
      await expect(upload(service, big)).rejects.toBeInstanceOf(FileTooLargeError);
      expect(scanner.scan).toHaveBeenCalled();
    });
  });
});
