import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { FileStorage, FileUrls, StoredFileNotFoundError, type HeldFile, type ServableFile } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import {
  AttachmentNotFoundError,
  InvalidResourceError,
  MalformedResourceError,
  ResourceNotFoundError,
  UnknownResourceTypeError,
} from '../domain/errors.js';
import {
  definitionOf,
  patientOf,
  FHIR_ID,
  isSupportedResourceType,
  subjectKeyOf,
  type FhirJson,
  type ResourceType,
} from '../domain/resource-types.js';
import { fromProductApi } from '../domain/product-api.js';
import { jsonIssues } from '../domain/resource-json.js';
import { parseSearch } from '../domain/search.js';
import { FhirResources, type AttachmentContent, type SearchResult, type WriteContext } from '../ports/fhir-resources.port.js';
import { FileLinks } from '../ports/file-links.port.js';
import { ResourceRepository, type ResourceWrite } from '../ports/resource.repository.port.js';
import { ResourceValidator } from '../ports/resource-validator.port.js';
import { AttachmentLinker } from './attachment-linker.js';
import { ReleasedFiles } from './released-files.js';

/**
 * An external attachment URL the client may be sent to: http(s) only, and
 * without user:password, which a redirect would hand to whoever follows it.
 */
function isRedirectable(url: string): boolean {
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) return false;
  const { username, password } = new URL(url);
  return !username && !password;
}

/** Stands in for inline data while a resource is validated: the data is checked (and stored) as a file instead. */
const DATA_PLACEHOLDER = 'AAAA';

/** Links stored in resources are always relative: `/files/<orgId>/<fileName>`. */
const STORED_LINKS = new FileUrls([]);

/** A resource checked and linked, ready to be written: the files it stored from inline data are held until it is. */
export interface PreparedWrite {
  write: ResourceWrite;
  uploaded: HeldFile[];
}

/**
 * FHIR interactions for the supported types. A write validates first, then
 * links attachments (storing inline data), then stores the resource and its
 * links in one transaction; files it uploaded are deleted again if the
 * resource is refused, and files no resource links any more are deleted.
 */
@Injectable()
export class FhirResourceService extends FhirResources {
  private readonly logger = new Logger('FhirResources');

  constructor(
    private readonly repository: ResourceRepository,
    private readonly validator: ResourceValidator,
    private readonly linker: AttachmentLinker,
    private readonly released: ReleasedFiles,
    private readonly files: FileStorage,
    private readonly links: FileLinks,
  ) {
    super();
  }

  async create(organizationId: OrganizationId, type: string, body: unknown, context: WriteContext): Promise<FhirJson> {
    const resourceType = this.typeOf(type);
    const id = randomUUID();
    return this.store(organizationId, await this.prepare(organizationId, resourceType, id, this.incoming(resourceType, body), 'create', context));
  }

  async read(organizationId: OrganizationId, type: string, id: string): Promise<FhirJson> {
    const resourceType = this.typeOf(type);
    const resource = FHIR_ID.test(id) ? await this.repository.find(organizationId, resourceType, id) : null;
    if (!resource) throw new ResourceNotFoundError(resourceType, id);
    return resource;
  }

  async update(
    organizationId: OrganizationId,
    type: string,
    id: string,
    body: unknown,
    expectedVersion: number | undefined,
    context: WriteContext,
  ): Promise<FhirJson> {
    const resourceType = this.typeOf(type);
    // Unknown (or another organization's) ids are 404 whatever the body says; the write checks again.
    const linked = await this.linkedBy(organizationId, resourceType, id);
    if (!linked) throw new ResourceNotFoundError(resourceType, id);
    const resource = this.incoming(resourceType, body);
    this.requireId(resource, id);
    return this.store(organizationId, await this.prepare(organizationId, resourceType, id, resource, expectedVersion, context, { alreadyLinked: linked }));
  }

  /** The files a stored resource links (by name); null when there is no such resource. */
  async linkedBy(organizationId: OrganizationId, type: ResourceType, id: string): Promise<Set<string> | null> {
    const found = FHIR_ID.test(id) ? await this.repository.findWithFiles(organizationId, type, id) : null;
    return found ? new Set(found.files.map((f) => f.fileName)) : null;
  }

  /** A PUT's resource must carry the id its URL names. */
  requireId(resource: FhirJson, id: string): void {
    if (resource.id !== id) throw new MalformedResourceError(`The resource's id (${resource.id ?? 'none'}) must be the id in the URL (${id})`);
  }

  async delete(organizationId: OrganizationId, type: string, id: string, expectedVersion?: number): Promise<void> {
    const resourceType = this.typeOf(type);
    if (!FHIR_ID.test(id)) throw new ResourceNotFoundError(resourceType, id);
    const released = await this.repository.remove(organizationId, resourceType, id, expectedVersion);
    this.logger.log(`Deleted ${resourceType}/${id} of ${organizationId}; ${released.length} file(s) no other resource links`);
    await this.released.delete(organizationId, released, `its last resource, ${resourceType}/${id}, was deleted`);
  }

  async attachment(organizationId: OrganizationId, type: string, id: string, field: string, index: number): Promise<AttachmentContent> {
    const resourceType = this.typeOf(type);
    const definition = definitionOf(resourceType);
    if (definition.attachmentField === undefined) throw new AttachmentNotFoundError(`${resourceType} has no attachments`);
    if (field !== definition.attachmentField) {
      throw new AttachmentNotFoundError(`${resourceType} has no attachment field '${field}'; its attachments are at files/${definition.attachmentField}`);
    }
    const found = FHIR_ID.test(id) ? await this.repository.findWithFiles(organizationId, resourceType, id) : null;
    if (!found) throw new ResourceNotFoundError(resourceType, id);
    const { resource } = found;
    const patient = patientOf(resource);
    const where = `${resourceType}/${id} ${field}[${index}]`;
    const attachment = definition.attachmentsOf(resource)[index]?.attachment;
    if (!attachment) throw new AttachmentNotFoundError(`${resourceType}/${id} has no ${field}[${index}]`);
    const binaryId = attachment.url === undefined ? undefined : STORED_LINKS.binaryId(attachment.url);
    const target = attachment.url === undefined || binaryId !== undefined ? undefined : STORED_LINKS.resolve(attachment.url);
    if (binaryId === 'malformed' || target === 'malformed') throw new AttachmentNotFoundError(`${where} has no file this server can serve`);
    // Links are only ever written to the resource's own organization; anything else is not served.
    if (target && target.organizationId !== organizationId) throw new AttachmentNotFoundError(`${where} has no file of this organization`);
    if (binaryId !== undefined || target) {
      const matches = (fileName: string) => (binaryId !== undefined ? fileName.startsWith(`${binaryId}.`) : fileName === target!.fileName);
      // A linked file cannot be deleted while the link exists: the link's facts, securityContext included, sign for it.
      const linked = found.files.find((f) => matches(f.fileName));
      let file: ServableFile;
      if (linked?.contentType) file = { organizationId, ...linked };
      else {
        try {
          file = binaryId !== undefined ? await this.files.findById(organizationId, binaryId) : await this.files.find(organizationId, target!.fileName);
        } catch (e) {
          if (!(e instanceof StoredFileNotFoundError)) throw e;
          throw new AttachmentNotFoundError(`${where} links a file that has since been deleted`);
        }
      }
      // A file kept with a securityContext (a Binary's) is read only with access to that resource, unless it is this one.
      if (file.securityContext !== `${resourceType}/${id}`) await this.links.requireReadable(organizationId, file);
      return { kind: 'file', file, patient };
    }
    if (attachment.url !== undefined && isRedirectable(attachment.url)) return { kind: 'external', url: attachment.url, patient };
    if (typeof attachment.data === 'string') {
      return { kind: 'data', bytes: Buffer.from(attachment.data, 'base64'), contentType: attachment.contentType, title: attachment.title, patient };
    }
    throw new AttachmentNotFoundError(`${where} has no content this server can retrieve`);
  }

  async search(organizationId: OrganizationId, type: string, params: Iterable<[string, string]>, strict: boolean): Promise<SearchResult> {
    const resourceType = this.typeOf(type);
    const query = parseSearch(resourceType, params, strict);
    return { query, page: await this.repository.search(organizationId, resourceType, query) };
  }

  typeOf(type: string): ResourceType {
    if (!isSupportedResourceType(type)) throw new UnknownResourceTypeError(type);
    return type;
  }

  /**
   * Validates a resource and links its attachments, storing their inline data
   * as held files; nothing is written yet. `bundled`: Binaries held by the same
   * FHIR transaction, which it may link. On failure nothing it held is kept.
   */
  async prepare(
    organizationId: OrganizationId,
    type: ResourceType,
    id: string,
    resource: FhirJson,
    expected: 'create' | number | undefined,
    context: WriteContext,
    options: { bundled?: ReadonlyMap<string, HeldFile>; validated?: boolean; alreadyLinked?: ReadonlySet<string> } = {},
  ): Promise<PreparedWrite> {
    if (!options.validated) this.validate(type, resource);
    const linked = await this.linker.link(organizationId, type, resource, context.baseUrl, options.bundled, options.alreadyLinked);
    return {
      write: { type, id, resource, subject: subjectKeyOf(resource, definitionOf(type)), files: linked.files, expected },
      uploaded: linked.uploaded,
    };
  }

  /** Writes a prepared resource and makes its held files available in the same transaction: both or neither. */
  private async store(organizationId: OrganizationId, prepared: PreparedWrite): Promise<FhirJson> {
    const { type, id } = prepared.write;
    let result;
    try {
      result = await this.repository.transaction(organizationId, async () => {
        const written = await this.repository.write(organizationId, prepared.write);
        await this.files.confirm(organizationId, prepared.uploaded);
        return written;
      });
    } catch (e) {
      await this.linker.discard(organizationId, prepared.uploaded);
      throw e;
    }
    await this.released.delete(organizationId, result.released, `${type}/${id} no longer links it, nor does any other resource`);
    return result.resource;
  }

  /** InvalidResourceError (422) with every issue of the resource, as it will be stored. */
  validate(type: ResourceType, resource: FhirJson): void {
    const issues = [...jsonIssues(resource), ...this.validateWithoutData(type, resource)];
    if (issues.length > 0) throw new InvalidResourceError(issues);
  }

  /**
   * Validates the resource as it will be stored: the inline data of its
   * attachments becomes files, so a stand-in takes its place meanwhile (the
   * validator limits every string to 1 MiB; the data's own limit is the
   * upload's, and it is checked as one).
   */
  private validateWithoutData(type: ResourceType, resource: FhirJson) {
    const inline = definitionOf(type)
      .attachmentsOf(resource)
      .map((l) => l.attachment)
      .filter((a) => typeof a.data === 'string');
    const data = inline.map((a) => a.data!);
    inline.forEach((a) => (a.data = DATA_PLACEHOLDER));
    try {
      return this.validator.validate(resource);
    } finally {
      inline.forEach((a, i) => (a.data = data[i]));
    }
  }

  /**
   * The request body as a resource of `type`: the type taken from the URL when
   * the body does not name one, server-managed meta removed, and the product
   * API's conventions (flat subjectId, plain dates) turned into standard FHIR.
   */
  incoming(type: ResourceType, body: unknown): FhirJson {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new MalformedResourceError('The body must be a FHIR resource (a JSON object)');
    }
    const resource = body as FhirJson;
    // The product API's own requests carry no resourceType: the URL says what they are.
    resource.resourceType ??= type;
    if (resource.resourceType !== type) {
      throw new MalformedResourceError(
        typeof resource.resourceType === 'string'
          ? `The body is a ${resource.resourceType} resource, but the URL is for ${type}; send it to /fhir/${resource.resourceType} or change its resourceType`
          : `resourceType must be the string '${type}' (or left out)`,
      );
    }
    if (resource.meta && typeof resource.meta === 'object') {
      const { versionId: _v, lastUpdated: _l, ...meta } = resource.meta;
      resource.meta = meta;
    }
    fromProductApi(type, resource);
    return resource;
  }
}
