import { create as contentDisposition } from 'content-disposition';
import { canRenderInline } from './content-types.js';
import type { StoredFile } from './stored-file.js';

/** How a file is presented to whoever fetches it: the same whether it is served here or by a signed URL. */
export interface Representation {
  contentType: string;
  contentDisposition: string;
}

/**
 * The detected type, and `attachment` with the client's original file name,
 * unless inline was asked for and the type cannot carry script.
 */
export function representationOf(file: Pick<StoredFile, 'contentType' | 'originalName' | 'fileName'>, wantsInline: boolean): Representation {
  const inline = wantsInline && canRenderInline(file.contentType);
  return {
    contentType: file.contentType.startsWith('text/') ? `${file.contentType}; charset=utf-8` : file.contentType,
    contentDisposition: contentDisposition(file.originalName || file.fileName, { type: inline ? 'inline' : 'attachment' }),
  };
}
