export { FileStorageModule } from './file-storage.module.js';
export { FileStorage, type UploadRequest } from './ports/file-storage.port.js';
export type { ByteRange } from './ports/object-store.port.js';
export { filePath, parseFilePath, type AvailableFile, type FileListing, type ScanStatus } from './domain/stored-file.js';
export { canonicalExtensionFor, canRenderInline } from './domain/content-types.js';
export {
  FileTooLargeError,
  InfectedFileError,
  InvalidUploadError,
  StoredFileNotFoundError,
  UnsupportedContentError,
} from './domain/errors.js';
