import { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import type { Attachment } from '@medplum/fhirtypes';
import { AppConfig } from '@app/config';
import {
  canonicalExtensionFor,
  FileStorage,
  filePath,
  isSignedUrl,
  parseFilePath,
  UnsupportedContentError,
  type AvailableFile,
} from '@app/file-storage';
import { CrossOrganizationAccessError, type OrganizationId } from '@app/tenancy';
import { InvalidResourceError } from '../domain/errors.js';
import { definitionOf, type FhirJson, type ResourceType } from '../domain/resource-types.js';

/** Characters of base64 decoded per chunk: a multiple of 4, so every chunk decodes on its own. */
const BASE64_CHUNK = 64 * 1024;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface LinkedFiles {
  /** Every file of this service the resource links. */
  fileNames: string[];
  /** Files stored from inline data by this call: to delete if the resource is not stored after all. */
  uploaded: string[];
}

/** Decodes base64 in slices, so the decoded bytes never exist all at once. */
function decodeBase64(data: string): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += BASE64_CHUNK) yield Buffer.from(data.slice(i, i + BASE64_CHUNK), 'base64');
    })(),
  );
}

/**
 * Turns the attachments of an incoming resource into links to stored files:
 * inline `data` is uploaded through the same checks as any upload, URLs of
 * this service must name an available file of the caller's organization,
 * and every linked attachment gets the stored file's facts. External URLs
 * are left as they are.
 */
@Injectable()
export class AttachmentLinker {
  private readonly logger = new Logger('AttachmentLinker');
  private readonly publicBaseUrl?: string;

  constructor(
    config: AppConfig,
    private readonly files: FileStorage,
  ) {
    this.publicBaseUrl = config.publicBaseUrl;
  }

  async link(organizationId: OrganizationId, type: ResourceType, resource: FhirJson): Promise<LinkedFiles> {
    const definition = definitionOf(type);
    const linked: LinkedFiles = { fileNames: [], uploaded: [] };
    const handled = new WeakSet<object>();
    try {
      for (const [i, attachment] of definition.attachmentsOf(resource).entries()) {
        const where = `${type}.${definition.attachmentField}[${i}]`;
        handled.add(attachment);
        const file = await this.resolve(organizationId, attachment, where, linked);
        if (!file) continue;
        if (attachment.hash !== undefined && file.sha1 && attachment.hash !== file.sha1) {
          throw InvalidResourceError.single(`hash ${attachment.hash} does not match the stored file (${file.sha1})`, `${where}.hash`);
        }
        delete attachment.data;
        attachment.url = filePath(file);
        attachment.contentType = file.contentType;
        attachment.size = file.size;
        if (file.sha1) attachment.hash = file.sha1;
        if (!linked.fileNames.includes(file.fileName)) linked.fileNames.push(file.fileName);
      }
      this.refuseElsewhere(resource, handled, type, definition.attachmentField);
      return linked;
    } catch (e) {
      await this.discard(organizationId, linked.uploaded);
      throw e;
    }
  }

  /** Deletes files uploaded for a resource that was not stored after all; best effort (the orphan sweeper is the backstop). */
  async discard(organizationId: OrganizationId, fileNames: readonly string[]): Promise<void> {
    for (const fileName of fileNames) {
      await this.files.delete(organizationId, fileName).catch((e: Error) => {
        this.logger.warn(`Could not delete ${organizationId}/${fileName} of a refused resource (${e.message}); the orphan sweeper will`);
      });
    }
  }

  /** The stored file an attachment names or carries; undefined for external URLs and attachments without content. */
  private async resolve(
    organizationId: OrganizationId,
    attachment: Attachment,
    where: string,
    linked: LinkedFiles,
  ): Promise<AvailableFile | undefined> {
    if (attachment.data !== undefined) {
      if (attachment.url !== undefined) throw InvalidResourceError.single('Give either data or url, not both', where);
      const file = await this.upload(organizationId, attachment, where);
      linked.uploaded.push(file.fileName);
      return file;
    }
    if (attachment.url === undefined) return undefined;
    this.refuseSigned(attachment.url, `${where}.url`);
    const path = this.ownPath(attachment.url);
    if (path === undefined) return undefined;
    const target = parseFilePath(path);
    if (!target) throw InvalidResourceError.single(`${attachment.url} is not a file URL of this service`, `${where}.url`);
    if (target.organizationId !== organizationId) throw new CrossOrganizationAccessError();
    try {
      return await this.files.find(organizationId, target.fileName);
    } catch (e) {
      if ((e as { code?: string }).code !== 'file_not_found') throw e;
      throw InvalidResourceError.single(`${attachment.url} is not an available file`, `${where}.url`);
    }
  }

  private async upload(organizationId: OrganizationId, attachment: Attachment, where: string): Promise<AvailableFile> {
    const data = attachment.data!.replace(/\s+/g, '');
    if (!attachment.contentType) throw InvalidResourceError.single('An attachment with data needs a contentType', where);
    if (!BASE64.test(data) || data.length % 4 !== 0) throw InvalidResourceError.single('data is not valid base64', `${where}.data`);
    const extension = canonicalExtensionFor(attachment.contentType);
    if (!extension) throw new UnsupportedContentError(`Attachments of type ${attachment.contentType} are not accepted`);
    // The title names the file for downloads; the extension is one witness of the type, as for any upload.
    const title = attachment.title?.trim() || 'attachment';
    const fileName = title.toLowerCase().endsWith(`.${extension}`) ? title : `${title}.${extension}`;
    return this.files.upload(organizationId, { content: decodeBase64(data), fileName, declaredType: attachment.contentType });
  }

  /** A signed URL (a 307's Location, captured) is a credential that expires: storing it would leak it to every reader. */
  private refuseSigned(url: string, where: string): void {
    if (isSignedUrl(url)) {
      throw InvalidResourceError.single('This is a signed download URL, which expires and must not be stored; link the file by its /files/ url', where);
    }
  }

  /** The path of a URL that points at this service's files (relative, or under PUBLIC_BASE_URL), else undefined. */
  private ownPath(url: string): string | undefined {
    const path = this.publicBaseUrl && url.startsWith(`${this.publicBaseUrl}/`) ? url.slice(this.publicBaseUrl.length) : url;
    return path.startsWith('/files/') ? path : undefined;
  }

  /** Files may only be linked, and data only carried, where the service serves them from. */
  private refuseElsewhere(value: unknown, handled: WeakSet<object>, type: ResourceType, field: string, path: string = type): void {
    if (typeof value !== 'object' || value === null) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => this.refuseElsewhere(item, handled, type, field, `${path}[${i}]`));
      return;
    }
    const record = value as Record<string, unknown>;
    if (!handled.has(record)) {
      // Attachments of the field were checked by resolve.
      if (typeof record.url === 'string') this.refuseSigned(record.url, `${path}.url`);
      const ownUrl = typeof record.url === 'string' && this.ownPath(record.url) !== undefined;
      const inlineData = typeof record.data === 'string' && 'contentType' in record;
      if (ownUrl || inlineData) {
        throw InvalidResourceError.single(`Files of this service can only be linked from ${type}.${field}`, path);
      }
    }
    for (const [key, child] of Object.entries(record)) this.refuseElsewhere(child, handled, type, field, `${path}.${key}`);
  }
}
