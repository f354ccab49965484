import { randomUUID } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Logger, type OnModuleInit } from '@nestjs/common';
import { watchRejection } from '@app/common';
import { InsufficientStorageError, ObjectNotFoundError, StorageUnavailableError } from '../domain/errors.js';
import { assertStorageKey } from '../domain/stored-file.js';
import { ObjectStore, type ByteRange, type ObjectInfo, type PresignOptions, type PutOptions, type SignedResponse } from '../ports/object-store.port.js';
import type { FsUrlSigner } from './fs-url-signer.js';

/** A download's reads: two buffers of this size, one being filled while the other is written. */
const READ_CHUNK_BYTES = 1 << 20;

/** Temp files older than this are leftovers of a crash. */
const STALE_TEMP_MS = 24 * 3600_000;

/**
 * Bytes on the local file system under `<root>/<orgId>/<fileName>`. A write
 * goes to a temp file in the same file system, is fsynced, then renamed into
 * place, so a key never names a half-written file.
 */
export class FsObjectStore extends ObjectStore implements OnModuleInit {
  private readonly logger = new Logger('FsObjectStore');
  private readonly tempDir: string;
  /** Organization directories whose entry in the root this process has fsynced. */
  private readonly syncedIntoRoot = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly signer: FsUrlSigner,
  ) {
    super();
    // Organization ids cannot start with '.', so this never collides with a tenant.
    this.tempDir = join(root, '.tmp');
  }

  async onModuleInit(): Promise<void> {
    await mkdir(this.tempDir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    for (const name of await readdir(this.tempDir)) {
      const path = join(this.tempDir, name);
      // Another replica sharing the volume may rename its temp file meanwhile.
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > STALE_TEMP_MS) {
        await rm(path, { force: true });
        this.logger.log(`Removed stale temp file ${name}`);
      }
    }
  }

  async put(key: string, body: Readable, { after }: PutOptions): Promise<void> {
    const target = this.pathOf(key);
    const temp = join(this.tempDir, `${tempPrefix(key)}${randomUUID()}.part`);
    // flush: fsync before close, so the rename below never exposes unwritten data.
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true, highWaterMark: 1 << 20 });
    // The record failing stops the write at once, and its error is the put's.
    const record = watchRejection(after, () => file.destroy());
    try {
      await pipeline(body, file);
      await after;
      await this.moveIntoPlace(temp, target);
    } catch (e) {
      await rm(temp, { force: true });
      if (record.rejected) throw record.rejected.error;
      storeFailure(e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    try {
      const handle = await open(this.pathOf(key), 'r');
      return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
    } catch (e) {
      throw readFailure(e);
    }
  }

  /**
   * Reads into two buffers of its own, each filled again only once the
   * destination has taken what it held: 2 MiB per download, whatever the
   * file's size, where a read stream allocates a fresh buffer per chunk.
   */
  override async writeTo(key: string, destination: Writable, range?: ByteRange): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key), 'r');
    } catch (e) {
      throw readFailure(e);
    }
    try {
      await copyInto(destination, handle, range ? { from: range.start, to: range.end + 1 } : { from: 0 });
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async head(key: string): Promise<ObjectInfo> {
    try {
      return { size: (await stat(this.pathOf(key))).size };
    } catch (e) {
      throw readFailure(e);
    }
  }

  /** A path on this service; the application serves it after `signer.verify`. */
  async presign(key: string, options: PresignOptions): Promise<string> {
    return this.signer.sign(key, options);
  }

  verifySigned(key: string, query: Record<string, unknown>, method: 'GET' | 'HEAD'): SignedResponse {
    return this.signer.verify(key, query, method);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true }).catch(storeFailure);
  }

  async removeUnfinished(key: string): Promise<void> {
    const prefix = tempPrefix(key);
    const names = await readdir(this.tempDir).catch(storeFailure);
    for (const name of names.filter((n) => n.startsWith(prefix))) {
      await rm(join(this.tempDir, name), { force: true }).catch(storeFailure);
    }
  }

  async check(): Promise<void> {
    await access(this.tempDir, constants.W_OK);
  }

  private pathOf(key: string): string {
    assertStorageKey(key);
    return join(this.root, key);
  }

  /**
   * Renames `temp` to `target` durably. The organization's directory is made only when the rename
   * finds it missing (its first file), so every other put saves the two round trips to the thread
   * pool that an mkdir costs. Its entry in the root is synced by the first put of each organization in
   * this process, whoever made it: a put into a directory another put has just made, or one made
   * before a crash, must not count on that put's sync.
   */
  private async moveIntoPlace(temp: string, target: string): Promise<void> {
    const directory = dirname(target);
    try {
      await rename(temp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(directory, { recursive: true, mode: 0o700 });
      this.syncedIntoRoot.delete(directory); // made again, so not yet synced
      await rename(temp, target);
    }
    if (!this.syncedIntoRoot.has(directory)) {
      await this.syncDirectory(dirname(directory));
      this.syncedIntoRoot.add(directory);
    }
    await this.syncDirectory(directory);
  }

  /** Makes the entries of `path` (a rename into it, a directory made in it) durable. */
  private async syncDirectory(path: string): Promise<void> {
    const dir = await open(path, 'r');
    try {
      await dir.sync();
    } finally {
      // The sync is what the caller waits for; closing a read-only descriptor is not.
      dir.close().catch((e: unknown) => this.logger.warn(`Closing directory ${path} failed: ${(e as Error).message}`));
    }
  }
}

/** Temp files are named after their key, so the write of a key that a crash interrupted can be found. */
function tempPrefix(key: string): string {
  assertStorageKey(key);
  // Organization ids have no '.', so `<org>.<fileName>.` names exactly one key.
  return `${key.replace('/', '.')}.`;
}

/** A full disk is a 507; other file-system failures (permissions, I/O) a 503; content errors pass through. */
function storeFailure(e: unknown): never {
  const { syscall, code } = (e ?? {}) as NodeJS.ErrnoException;
  if (code === 'ENOSPC' || code === 'EDQUOT') throw new InsufficientStorageError({ cause: e });
  if (syscall) throw new StorageUnavailableError(`The file store failed (${code ?? syscall})`, { cause: e });
  throw e;
}

/** Reading a key: a missing file is a missing object, anything else goes through storeFailure. */
function readFailure(e: unknown): never {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError();
  return storeFailure(e);
}

/**
 * Bytes `from` up to `to` (exclusive; the end of the file if absent) of `handle`, written into
 * `destination` through two reused buffers. Stops at the destination's first failed write or
 * its close (a client gone), and at a read that fails or finds the file shorter than `to`.
 */
async function copyInto(destination: Writable, handle: FileHandle, { from, to }: { from: number; to?: number }): Promise<void> {
  const buffers = [Buffer.allocUnsafeSlow(READ_CHUNK_BYTES), Buffer.allocUnsafeSlow(READ_CHUNK_BYTES)];
  const written: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  let onClose!: () => void;
  let onError!: (e: Error) => void;
  const stopped = new Promise<never>((_, reject) => {
    onClose = () => reject(new Error('The destination closed before every byte was written'));
    onError = reject;
    destination.once('close', onClose);
    // Kept after a failure, as pipeline() keeps its own: a destination that fails again must not crash the process.
    destination.on('error', onError);
  });
  stopped.catch(() => undefined);
  let done = false;
  try {
    for (let slot = 0, position = from; to === undefined || position < to; slot ^= 1) {
      // The buffer is the destination's until its write is done.
      await Promise.race([written[slot], stopped]);
      const buffer = buffers[slot]!;
      const wanted = to === undefined ? buffer.length : Math.min(buffer.length, to - position);
      const { bytesRead } = await handle.read(buffer, 0, wanted, position).catch(readFailure);
      if (bytesRead === 0) {
        if (to === undefined) break;
        throw new StorageUnavailableError(`The stored file ends at byte ${position}, before the ${to} it should have`);
      }
      position += bytesRead;
      const chunk = buffer.subarray(0, bytesRead);
      written[slot] = new Promise<void>((resolve, reject) => destination.write(chunk, (e) => (e ? reject(e) : resolve())));
      written[slot]!.catch(() => undefined); // awaited before the buffer is used again, or below
    }
    await Promise.race([Promise.all(written), stopped]);
    done = true;
  } finally {
    destination.off('close', onClose);
    if (done) destination.off('error', onError);
  }
}
