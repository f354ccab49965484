import { create as contentDisposition } from 'content-disposition';
import { canRenderInline, ruleForMimeType } from './content-types.js';
import { sanitizeFileName } from './file-name.js';
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

/**
 * For bytes this service did not check (inline data of a resource it did not
 * write): only a type it accepts is named, by its canonical name, else
 * application/octet-stream; the name is sanitised like an upload's.
 */
export function representationOfUnchecked(declaredType: string | undefined, name: string | undefined, wantsInline: boolean): Representation {
  const rule = declaredType ? ruleForMimeType(declaredType.split(';')[0]!.trim().toLowerCase()) : undefined;
  return representationOf(
    { contentType: rule?.contentType ?? 'application/octet-stream', originalName: sanitizeFileName(name ?? ''), fileName: 'attachment' },
    wantsInline,
  );
}
