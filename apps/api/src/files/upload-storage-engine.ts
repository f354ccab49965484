import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { AuthenticationError, principalOf } from '@app/tenancy';
import { FileTooLargeError, type AvailableFile, type FileStorage } from '@app/file-storage';

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
    // busboy stops at the limit and ends the part early; make that an error, not a short file.
    file.stream.once('limit', () => file.stream.destroy(new FileTooLargeError(this.files.maxUploadBytes)));
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
