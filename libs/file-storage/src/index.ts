export { FileStorageModule } from './file-storage.module.js';
export { FileStorage, type FileListPage, type SignedFile, type SignedUrlRequest, type UploadRequest } from './ports/file-storage.port.js';
export { containsSignedUrl, SIGNED_PATH_PREFIX } from './domain/signed-url.js';
export { representationOf, representationOfUnchecked, type Representation } from './domain/representation.js';
export type { ByteRange } from './ports/object-store.port.js';
export { FILE_ID, FILE_NAME, isFileName, type AvailableFile, type FileListing, type HeldFile, type ServableFile, type ScanStatus } from './domain/stored-file.js';
export { binaryReference, filePath, FileUrls, type FileTarget } from './domain/file-url.js';
export { canonicalExtensionFor, canRenderInline, CONTENT_TYPE_RULES } from './domain/content-types.js';
export {
  FileTooLargeError,
  InfectedFileError,
  InvalidUploadError,
  RangeNotSatisfiableError,
  StoredFileNotFoundError,
  UnsupportedContentError,
} from './domain/errors.js';
