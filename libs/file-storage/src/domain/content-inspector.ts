import { fileTypeFromBuffer } from 'file-type';
import type { SupportedContentType } from '@app/config';
import { createBodyCheck, type BodyCheck } from './body-check.js';
import { ruleForExtension, ruleForMimeType, type ContentTypeRule } from './content-types.js';
import { UnsupportedContentError } from './errors.js';
import { extensionOf } from './file-name.js';

/** Enough leading bytes for `file-type` to recognise every type we accept. */
export const SNIFF_BYTES = 4100;

/** MIME types that say nothing about the content (curl sends the first for unknown extensions). */
const UNDECLARED = new Set(['', 'application/octet-stream', 'binary/octet-stream']);

export interface ContentDecision {
  rule: ContentTypeRule;
  /** Must see every byte and pass `end()` before the file may become available. */
  bodyCheck?: BodyCheck;
}

export interface InspectionInput {
  /** The first SNIFF_BYTES of the file (fewer if the file is shorter). */
  head: Uint8Array;
  fileName: string;
  declaredType?: string;
}

function normaliseMime(value: string | undefined): string {
  return (value ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Decides what a file is from three witnesses that must agree: its leading
 * bytes, its file-name extension and the MIME type the client declared.
 * Anything it cannot vouch for is refused with UnsupportedContentError (415).
 */
export class ContentInspector {
  constructor(private readonly allowed: readonly SupportedContentType[]) {}

  async inspect({ head, fileName, declaredType }: InspectionInput): Promise<ContentDecision> {
    const extension = extensionOf(fileName);
    if (!extension) throw new UnsupportedContentError('no_extension', 'The file name has no extension, so its type cannot be checked');

    const rule = ruleForExtension(extension);
    if (!rule || !this.allowed.includes(rule.contentType)) {
      throw new UnsupportedContentError('extension_not_accepted', `Files with the extension .${extension} are not accepted; accepted types: ${this.allowed.join(', ')}`);
    }

    const declared = normaliseMime(declaredType);
    if (!UNDECLARED.has(declared)) {
      const declaredRule = ruleForMimeType(declared);
      if (declaredRule !== rule) {
        throw new UnsupportedContentError('declared_type_mismatch', `The declared type ${declared} does not match the extension .${extension} (${rule.contentType})`);
      }
    }

    const detected = await fileTypeFromBuffer(head);
    if (detected) {
      if (detected.mime !== rule.contentType) {
        const claim = UNDECLARED.has(declared) ? `the extension .${extension} says` : `the declared type and the extension .${extension} say`;
        throw new UnsupportedContentError('content_mismatch', `The content is ${detected.mime}, but ${claim} ${rule.contentType}`);
      }
      return { rule };
    }
    if (rule.recognition === 'magic') {
      throw new UnsupportedContentError('unrecognised_content', `The content is not a recognisable ${rule.contentType} file`);
    }
    return { rule, bodyCheck: createBodyCheck(rule.recognition) };
  }
}
