import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { AuthenticationError, principalOf } from '@app/tenancy';
import type { AvailableFile, FileStorage } from '@app/file-storage';

export type ReceivedFile = Express.Multer.File & { stored: AvailableFile };

/**
 * Multer storage engine that hands each file part, still streaming, to the
 * FileStorage port: nothing is buffered or written to a temp dir here.
 */
export class FileStorageEngine implements StorageEngine {
  constructor(private readonly files: FileStorage) {}

  _handleFile(req: Request, file: Express.Multer.File, callback: (error?: unknown, info?: Partial<ReceivedFile>) => void): void {
    const principal = principalOf(req);
    if (!principal) return callback(new AuthenticationError('Authentication is required', { required: true }));
    // Over the limit, busboy hands over limit + 1 bytes and ends the part; the
    // port's own size check refuses that. Destroying file.stream here instead
    // would let multer answer before the port has cleaned up.
    this.files
      .upload(principal.organizationId, { content: file.stream, fileName: file.originalname, declaredType: file.mimetype })
      .then((stored) => callback(null, { stored, size: stored.size }), callback);
  }

  _removeFile(req: Request, file: ReceivedFile, callback: (error: Error | null) => void): void {
    const principal = principalOf(req);
    if (!principal || !file.stored) return callback(null);
    this.files.delete(principal.organizationId, file.stored.fileName).then(() => callback(null), callback);
  }
}
