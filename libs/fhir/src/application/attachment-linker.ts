import { Injectable, Logger } from '@nestjs/common';
import type { Attachment } from '@medplum/fhirtypes';
import { AppConfig } from '@app/config';
import {
  binaryReference,
  canonicalExtensionFor,
  containsSignedUrl,
  FileStorage,
  filePath,
  FileUrls,
  StoredFileNotFoundError,
  UnsupportedContentError,
  type AvailableFile,
  type HeldFile,
} from '@app/file-storage';
import { CrossOrganizationAccessError, type OrganizationId } from '@app/tenancy';
import { compactBase64, decodeBase64 } from '../domain/base64.js';
import { InvalidResourceError, type ResourceIssue } from '../domain/errors.js';
import { walkJson } from '../domain/resource-json.js';
import { definitionOf, type FhirJson, type LocatedAttachment, type ResourceType } from '../domain/resource-types.js';
import { FileLinks } from '../ports/file-links.port.js';
import type { LinkedFile } from '../ports/resource.repository.port.js';

/** Elements that carry bytes: Attachment.data (and Binary.data, Signature.data), and base64Binary values of extensions. */
const BYTES_ELEMENT = /^(data|value[Bb]ase64Binary)$/;

export interface LinkedFiles {
  /** Every file of this service the resource links, once each. */
  files: LinkedFile[];
  /**
   * Files stored from inline data by this call, held: the write confirms them
   * with the resource, or abandons them if the resource is not stored after all.
   */
  uploaded: HeldFile[];
}

/**
 * Turns the attachments of an incoming resource into links to stored files:
 * inline `data` is uploaded through the same checks as any upload, URLs of
 * this service must name an available file of the caller's organization,
 * and every linked attachment gets the stored file's facts. External URLs
 * are left as they are. Anywhere else in the resource, files of this service,
 * bytes and signed URLs are refused: a stored resource never carries bytes
 * or credentials, and every link to a file is one the service knows about.
 */
@Injectable()
export class AttachmentLinker {
  private readonly logger = new Logger('AttachmentLinker');

  constructor(
    private readonly config: AppConfig,
    private readonly files: FileStorage,
    private readonly links: FileLinks,
  ) {}

  /**
   * `baseUrl`: the base URL the client reached this service at (PUBLIC_BASE_URL, or the request's origin).
   * `bundled`: Binaries held by the same FHIR transaction, by id, which the resource may link.
   * `alreadyLinked`: the files the stored version of the resource links (an update).
   */
  async link(
    organizationId: OrganizationId,
    type: ResourceType,
    resource: FhirJson,
    baseUrl: string,
    bundled: ReadonlyMap<string, HeldFile> = new Map(),
    alreadyLinked: ReadonlySet<string> = new Set(),
  ): Promise<LinkedFiles> {
    const urls = new FileUrls([this.config.publicBaseUrl ?? baseUrl, ...this.config.publicBaseUrlAliases]);
    const located = definitionOf(type).attachmentsOf(resource);
    const issues = this.refuseElsewhere(resource, type, located, urls);
    if (issues.length > 0) throw new InvalidResourceError(issues);

    const linked: LinkedFiles = { files: [], uploaded: [] };
    try {
      for (const { attachment, expression } of located) {
        const resolved = await this.resolve(organizationId, attachment, expression, urls, linked, bundled);
        if (!resolved) continue;
        const { file, url } = resolved;
        // Linking a file copies its facts and opens a route to its bytes: only for a caller who may read it.
        // (A Binary of the same transaction may name a resource it creates, which exists once it commits.)
        // A file the resource links already stays linked: only a new link needs the right to read it.
        if (bundled.get(file.id) !== file && !alreadyLinked.has(file.fileName)) await this.links.requireReadable(organizationId, file);
        if (attachment.hash !== undefined && file.sha1 && attachment.hash !== file.sha1) {
          throw InvalidResourceError.single(`hash ${attachment.hash} does not match the stored file (${file.sha1})`, `${expression}.hash`);
        }
        delete attachment.data;
        attachment.url = url;
        attachment.contentType = file.contentType;
        attachment.size = file.size;
        if (file.sha1) attachment.hash = file.sha1;
        if (!linked.files.some((f) => f.fileName === file.fileName)) {
          linked.files.push({ fileName: file.fileName, contentType: file.contentType, originalName: file.originalName, securityContext: file.securityContext });
        }
      }
      return linked;
    } catch (e) {
      await this.discard(organizationId, linked.uploaded);
      throw e;
    }
  }

  /** Removes files held for a resource that was not stored after all; what fails stays pending for the sweeper. */
  async discard(organizationId: OrganizationId, uploaded: readonly HeldFile[]): Promise<void> {
    if (uploaded.length === 0) return;
    this.logger.log(`Removing ${uploaded.length} file(s) held for a resource that was not stored`);
    await this.files.abandon(organizationId, uploaded);
  }

  /**
   * The stored file an attachment names or carries, with the url the stored attachment keeps: a Binary
   * stays `Binary/<id>` (how FHIR clients and IHE MHD name it), anything else becomes its /files path.
   * Undefined for external URLs and attachments without content.
   */
  private async resolve(
    organizationId: OrganizationId,
    attachment: Attachment,
    where: string,
    urls: FileUrls,
    linked: LinkedFiles,
    bundled: ReadonlyMap<string, HeldFile>,
  ): Promise<{ file: AvailableFile | HeldFile; url: string } | undefined> {
    if (attachment.data !== undefined) {
      if (attachment.url !== undefined) throw InvalidResourceError.single('Give either data or url, not both', where);
      const file = await this.upload(organizationId, attachment, where);
      linked.uploaded.push(file);
      return { file, url: filePath(file) };
    }
    if (attachment.url === undefined) return undefined;
    const binaryId = urls.binaryId(attachment.url);
    if (binaryId === 'malformed') {
      throw InvalidResourceError.single(`${attachment.url} is not a Binary of this service: Binary/<id>, the id a create answered`, `${where}.url`);
    }
    if (binaryId !== undefined) {
      const held = bundled.get(binaryId);
      if (held) return { file: held, url: binaryReference(held) };
      // A Binary's id names no organization: only the caller's own Binaries exist for it.
      try {
        const file = await this.files.findById(organizationId, binaryId);
        return { file, url: binaryReference(file) };
      } catch (e) {
        if (!(e instanceof StoredFileNotFoundError)) throw e;
        throw InvalidResourceError.single(`${attachment.url} is not a Binary of this organization`, `${where}.url`);
      }
    }
    const target = urls.resolve(attachment.url);
    if (target === undefined) return this.binaryElsewhere(organizationId, attachment.url, urls, bundled);
    if (target === 'malformed') {
      throw InvalidResourceError.single(`${attachment.url} is not a file URL of this service: /files/<orgId>/<fileName>`, `${where}.url`);
    }
    if (target.organizationId !== organizationId) throw new CrossOrganizationAccessError('file');
    try {
      const file = await this.files.find(organizationId, target.fileName);
      return { file, url: filePath(file) };
    } catch (e) {
      if (!(e instanceof StoredFileNotFoundError)) throw e;
      throw InvalidResourceError.single(`${attachment.url} is not an available file`, `${where}.url`);
    }
  }

  /**
   * A URL that reads like one of the organization's Binaries under a base URL this service no longer
   * (or not in this request) answers at: a resource read under an earlier PUBLIC_BASE_URL, or through
   * another Host, and saved back. It is that Binary when the organization has one with that id, so
   * that the save keeps the link (dropping it would delete the file); otherwise an external URL.
   */
  private async binaryElsewhere(
    organizationId: OrganizationId,
    url: string,
    urls: FileUrls,
    bundled: ReadonlyMap<string, HeldFile>,
  ): Promise<{ file: AvailableFile | HeldFile; url: string } | undefined> {
    const id = urls.binaryIdElsewhere(url);
    if (id === undefined) return undefined;
    const held = bundled.get(id);
    if (held) return { file: held, url: binaryReference(held) };
    try {
      const file = await this.files.findById(organizationId, id);
      this.logger.log(`Linked Binary/${id} named under another base URL`);
      return { file, url: binaryReference(file) };
    } catch (e) {
      if (!(e instanceof StoredFileNotFoundError)) throw e;
      return undefined;
    }
  }

  private async upload(organizationId: OrganizationId, attachment: Attachment, where: string): Promise<HeldFile> {
    if (!attachment.contentType) throw InvalidResourceError.single('An attachment with data needs a contentType', `${where}.contentType`);
    const data = compactBase64(attachment.data!);
    if (data === undefined) throw InvalidResourceError.single('data is not valid base64', `${where}.data`);
    const extension = canonicalExtensionFor(attachment.contentType);
    if (!extension) throw new UnsupportedContentError('media_type_not_accepted', `Attachments of type ${attachment.contentType} are not accepted`);
    // The title names the file for downloads; the extension is one witness of the type, as for any upload.
    const title = attachment.title?.trim() || 'attachment';
    const fileName = title.toLowerCase().endsWith(`.${extension}`) ? title : `${title}.${extension}`;
    return this.files.hold(organizationId, { content: decodeBase64(data), fileName, declaredType: attachment.contentType });
  }

  /**
   * Everything outside the attachment field's own `url` and `data`: a file of
   * this service linked from anywhere else, bytes anywhere else, and a signed
   * URL anywhere at all (a captured 307 Location in a note, an extension, a
   * telecom), each with where it is.
   */
  private refuseElsewhere(resource: FhirJson, type: ResourceType, located: LocatedAttachment[], urls: FileUrls): ResourceIssue[] {
    const attachments = new Set<object>(located.map((l) => l.attachment));
    const attachmentField = definitionOf(type).attachmentField;
    // A type without attachments (List) links no file and carries no bytes: say where they belong instead.
    const field = attachmentField ? `${type}.${attachmentField}` : `the attachment field of a resource that has one (a ${type} has none)`;
    const issues: ResourceIssue[] = [];
    walkJson(resource, type, (value, path, key, parent) => {
      const inAttachment = parent !== undefined && attachments.has(parent);
      // The field's inline data is checked and stored as an upload.
      if (inAttachment && key === 'data') return 'skip';
      if (key !== undefined && BYTES_ELEMENT.test(key) && typeof value === 'string') {
        issues.push({ message: `Bytes can only be sent as inline data of ${field}, which stores them as a file`, expression: path });
        return;
      }
      if (typeof value !== 'string') return;
      if (containsSignedUrl(value)) {
        issues.push({ message: 'This is, or holds, a signed download URL: it expires and is a credential, so it is never stored; link the file by its /files/ url', expression: path });
      } else if (!(inAttachment && key === 'url') && urls.resolve(value) !== undefined) {
        issues.push({ message: `Files of this service can only be linked from ${field}`, expression: path });
      }
    });
    return issues;
  }
}
