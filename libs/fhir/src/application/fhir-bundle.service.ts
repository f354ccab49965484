import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DomainError, settledWithin } from '@app/common';
import { AppConfig } from '@app/config';
import { FileStorage, type AvailableFile, type HeldFile } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import { binaryOf, binaryUploadOf } from '../domain/binary.js';
import { linksToEntries, parseBundle, rewriteLinks, unresolvedLink, type BundleEntryRequest } from '../domain/bundle.js';
import { BundleAnswerTooLargeError, BundleEntryError, InvalidResourceError, MalformedResourceError } from '../domain/errors.js';
import { versionFromIfMatch } from '../domain/if-match.js';
import type { FhirJson, ResourceType } from '../domain/resource-types.js';
import { searchsetBundle } from '../domain/search.js';
import { FhirBundles, type BundleOutcome, type EntryOutcome } from '../ports/fhir-bundles.port.js';
import type { WriteContext } from '../ports/fhir-resources.port.js';
import { FileLinks } from '../ports/file-links.port.js';
import { ResourceRepository } from '../ports/resource.repository.port.js';
import { binaryWithContent, binaryWithPointer } from './binary-content.js';
import { FhirResourceService, type PreparedWrite } from './fhir-resource.service.js';
import { ReleasedFiles } from './released-files.js';

/** A done entry; a Binary read carries its file until its bytes are added (withBytes). */
type Done = Exclude<EntryOutcome, { failed: unknown }> & { binary?: AvailableFile };

/** The order a transaction carries its entries out in (R4 http.html#trules): their order in the Bundle does not matter. */
const WRITE_ORDER = ['DELETE', 'POST', 'PUT'] as const;

/** Longest an answer waits for the files a transaction released to be deleted; the sweeper finishes the rest. */
const RELEASE_WAIT_MS = 5000;

/**
 * What a Bundle's answer may hold of read and searched resources and Binary
 * bytes, in JSON bytes: its request's limit, FHIR_MAX_BODY_BYTES. A few bytes
 * of request must not make hundreds of megabytes of answer.
 */
/** Base64 of `size` bytes, with the quotes and name of the element that carries it. */
function base64Length(size: number): number {
  return Math.ceil(size / 3) * 4 + '"data":"",'.length;
}

class AnswerBudget {
  constructor(private left: number) {}

  /** Counts an answer's JSON; BundleAnswerTooLargeError once over. */
  take(resource: FhirJson): void {
    this.left -= Buffer.byteLength(JSON.stringify(resource));
    if (this.left < 0) throw new BundleAnswerTooLargeError();
  }

  /** Counts `bytes` only if they fit: what may still be added without failing. */
  tryTake(bytes: number): boolean {
    if (bytes > this.left) return false;
    this.left -= bytes;
    return true;
  }
}

/**
 * Transactions and batches (`POST /fhir`) over the same checks as single
 * interactions. A transaction holds every file it stores (its Binaries, the
 * inline data of its resources) pending, writes every resource in one
 * database transaction, and makes the files available in that same
 * transaction: the resources, their links and the bytes commit together, or
 * the files are removed and nothing is kept. A batch carries out each entry
 * on its own, exactly as the single request would be.
 */
@Injectable()
export class FhirBundleService extends FhirBundles {
  private readonly logger = new Logger('FhirBundles');

  constructor(
    private readonly resources: FhirResourceService,
    private readonly repository: ResourceRepository,
    private readonly released: ReleasedFiles,
    private readonly files: FileStorage,
    private readonly links: FileLinks,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async process(organizationId: OrganizationId, body: unknown, context: WriteContext): Promise<BundleOutcome> {
    const { kind, entries } = parseBundle(body);
    const started = Date.now();
    const outcome: BundleOutcome = {
      kind,
      entries: kind === 'transaction' ? await this.transaction(organizationId, entries, context) : await this.batch(organizationId, entries, context),
    };
    const failed = outcome.entries.filter((e) => 'failed' in e).length;
    this.logger.log(`${kind} of ${entries.length} entries for ${organizationId} in ${Date.now() - started} ms${failed ? `; ${failed} failed` : ''}`);
    return outcome;
  }

  private async transaction(organizationId: OrganizationId, entries: BundleEntryRequest[], context: WriteContext): Promise<Done[]> {
    this.refuseOverlaps(entries);
    const results: Done[] = [];
    // Each POST's fullUrl → the Type/id it gets (a Binary's id is its file's, known once it is held); a PUT's → its own.
    const assigned = new Map<string, string>();
    const ids = new Map<number, string>();
    for (const e of entries) {
      if (e.method === 'PUT' && e.fullUrl !== undefined) assigned.set(e.fullUrl, `${e.type}/${e.id}`);
      if (e.method !== 'POST' || e.type === 'Binary') continue;
      const id = randomUUID();
      ids.set(e.index, id);
      if (e.fullUrl !== undefined) assigned.set(e.fullUrl, `${e.type}/${id}`);
    }
    const known = new Set(entries.flatMap((e) => (e.fullUrl !== undefined && (e.method === 'POST' || e.method === 'PUT') ? [e.fullUrl] : [])));
    // What costs nothing is checked before any file is stored: types, versions, the resources and their links.
    const versions = new Map<number, number | undefined>();
    const resources = new Map<number, { type: ResourceType; resource: FhirJson; alreadyLinked: Set<string> }>();
    for (const e of entries) {
      await atEntry(e, async () => {
        if (e.type !== 'Binary') this.resources.typeOf(e.type);
        if (e.method === 'PUT' || e.method === 'DELETE') versions.set(e.index, this.expectedVersion(e.ifMatch));
        if (e.resource === undefined) return;
        const root = e.type === 'Binary' ? 'Binary' : e.type;
        const unresolved = unresolvedLink(e.resource, root, known);
        if (unresolved) {
          throw new MalformedResourceError(
            `${unresolved.path} is ${unresolved.value}, which names no entry of the transaction (and conditional references are not supported): ` +
              'give the entry that fullUrl, or reference the resource as Type/id',
          );
        }
        if (e.type === 'Binary') return;
        const type = this.resources.typeOf(e.type);
        const resource = this.resources.incoming(type, e.resource);
        if (e.method === 'PUT') this.resources.requireId(resource, e.id!);
        this.resources.validate(type, resource);
        // What a PUT's resource links already stays linked without a new check; a missing one is 404 in the writes.
        const alreadyLinked = e.method === 'PUT' ? ((await this.resources.linkedBy(organizationId, type, e.id!)) ?? new Set<string>()) : new Set<string>();
        resources.set(e.index, { type, resource, alreadyLinked });
      });
    }
    const deleted = new Set(entries.flatMap((e) => (e.method === 'DELETE' ? [`${e.type}/${e.id}`] : [])));
    const held: HeldFile[] = [];
    const binaries = new Map<string, HeldFile>();
    const prepared = new Map<number, PreparedWrite>();
    const releasing: string[] = [];
    let released: string[] = [];
    // From the commit on, the held files are the resources' own: nothing may remove them any more.
    let committed = false;
    const budget = new AnswerBudget(this.config.fhir.maxBodyBytes);
    try {
      // The bytes next, held: the resources that link them are checked against them.
      for (const e of entries.filter((x) => x.type === 'Binary' && x.method !== 'GET')) {
        await atEntry(e, async () => {
          if (e.method !== 'POST') {
            throw new MalformedResourceError('A transaction can create (POST) and read (GET) a Binary; delete one with DELETE /fhir/Binary/<id>');
          }
          const where = `Bundle.entry[${e.index}].resource`;
          // Its securityContext may name a resource the transaction creates: that one exists once it commits.
          rewriteLinks(e.resource!, 'Binary', assigned);
          const upload = binaryUploadOf(e.resource, where);
          if (upload.securityContext && deleted.has(upload.securityContext)) {
            throw InvalidResourceError.single(`securityContext ${upload.securityContext} is deleted by this transaction`, `${where}.securityContext.reference`);
          }
          if (upload.securityContext && ![...assigned.values()].includes(upload.securityContext)) {
            await this.links.requireContext(organizationId, upload.securityContext, `${where}.securityContext.reference`);
          }
          const file = await this.files.hold(organizationId, upload);
          held.push(file);
          binaries.set(file.id, file);
          if (e.fullUrl !== undefined) assigned.set(e.fullUrl, `Binary/${file.id}`);
          results[e.index] = { done: 'created', resource: binaryOf(file), location: `Binary/${file.id}`, file: `${organizationId}/${file.fileName}` };
        });
      }
      for (const e of entries.filter((x) => resources.has(x.index))) {
        await atEntry(e, async () => {
          const { type, resource, alreadyLinked } = resources.get(e.index)!;
          rewriteLinks(resource, type, assigned);
          const id = e.method === 'POST' ? ids.get(e.index)! : e.id!;
          const expected = e.method === 'POST' ? 'create' : versions.get(e.index);
          const p = await this.resources.prepare(organizationId, type, id, resource, expected, context, { bundled: binaries, validated: true, alreadyLinked });
          held.push(...p.uploaded);
          prepared.set(e.index, p);
        });
      }
      await this.repository.transaction(organizationId, async () => {
        const changed = entries.flatMap((e) => (e.method === 'PUT' || e.method === 'DELETE') && e.type !== 'Binary' ? [{ type: e.type as ResourceType, id: e.id! }] : []);
        await this.repository.lockForWrites(organizationId, changed, [...prepared.values()].flatMap((p) => p.write.files.map((f) => f.fileName)));
        for (const method of WRITE_ORDER) {
          for (const e of entries.filter((x) => x.method === method && x.type !== 'Binary')) {
            await atEntry(e, async () => {
              if (method === 'DELETE') {
                const type = this.resources.typeOf(e.type);
                releasing.push(...(await this.repository.remove(organizationId, type, e.id!, versions.get(e.index), { releaseLater: true })));
                results[e.index] = { done: 'deleted', location: `${type}/${e.id}` };
                return;
              }
              const written = await this.repository.write(organizationId, prepared.get(e.index)!.write, { releaseLater: true });
              releasing.push(...written.dropped);
              results[e.index] = { done: method === 'POST' ? 'created' : 'updated', resource: written.resource, location: `${e.type}/${written.resource.id}` };
            });
          }
        }
        // New links to files kept with a securityContext, checked again as the transaction leaves things:
        // a resource it deletes no longer opens the file to anyone.
        for (const e of entries.filter((x) => prepared.has(x.index))) {
          const { alreadyLinked } = resources.get(e.index)!;
          for (const file of prepared.get(e.index)!.write.files) {
            if (file.securityContext && !alreadyLinked.has(file.fileName)) await atEntry(e, () => this.links.requireReadable(organizationId, file));
          }
        }
        // What no resource links once every entry is written; a file one entry let go of and another linked stays.
        released = await this.repository.releaseUnlinked(organizationId, releasing);
        await this.files.confirm(organizationId, held);
        // Reads see what the transaction wrote; a Binary's bytes are read after it commits.
        for (const e of entries.filter((x) => x.method === 'GET')) {
          results[e.index] = await atEntry(e, () => this.read(organizationId, e, context, budget));
        }
      });
      committed = true;
    } catch (e) {
      if (held.length > 0 && !committed) {
        this.logger.log(`Transaction refused: removing the ${held.length} file(s) it stored`);
        await this.files.abandon(organizationId, held);
      }
      throw e;
    }
    for (const e of entries.filter((x) => x.method === 'GET')) results[e.index] = await this.withBytes(results[e.index]!, context, budget);
    await this.deleteReleased(organizationId, released);
    return results;
  }

  /** Each entry on its own, as its single request; a failure is that entry's answer only. */
  private async batch(organizationId: OrganizationId, entries: BundleEntryRequest[], context: WriteContext): Promise<EntryOutcome[]> {
    const fullUrls = new Set(entries.flatMap((e) => (e.fullUrl === undefined ? [] : [e.fullUrl])));
    const budget = new AnswerBudget(this.config.fhir.maxBodyBytes);
    const results: EntryOutcome[] = [];
    for (const e of entries) {
      try {
        results.push(await this.batchEntry(organizationId, e, fullUrls, context, budget));
      } catch (error) {
        results.push({ failed: error, method: e.method, ...(e.id !== undefined && { target: `${e.type}/${e.id}` }) });
      }
    }
    return results;
  }

  private async batchEntry(
    organizationId: OrganizationId,
    e: BundleEntryRequest,
    fullUrls: Set<string>,
    context: WriteContext,
    budget: AnswerBudget,
  ): Promise<Done> {
    const linked = e.resource && linksToEntries(e.resource, e.type, fullUrls);
    if (linked) {
      throw new MalformedResourceError(`${linked} names another entry of the batch; entries of a batch stand alone: send a transaction to link them`);
    }
    if (e.method === 'GET') return this.withBytes(await this.read(organizationId, e, context, budget), context, budget);
    if (e.type === 'Binary') {
      if (e.method === 'POST') {
        const upload = binaryUploadOf(e.resource);
        if (upload.securityContext) await this.links.requireContext(organizationId, upload.securityContext, 'Binary.securityContext.reference');
        const file = await this.files.upload(organizationId, upload);
        return { done: 'created', resource: binaryOf(file), location: `Binary/${file.id}`, file: `${organizationId}/${file.fileName}` };
      }
      if (e.method === 'DELETE') {
        const file = await this.files.findById(organizationId, e.id!);
        await this.links.deleteUnlinked(organizationId, file.fileName);
        return { done: 'deleted', location: `Binary/${file.id}`, file: `${organizationId}/${file.fileName}` };
      }
      throw new MalformedResourceError('A Binary is never updated: create a new one');
    }
    if (e.method === 'DELETE') {
      await this.resources.delete(organizationId, e.type, e.id!, this.expectedVersion(e.ifMatch));
      return { done: 'deleted', location: `${e.type}/${e.id}` };
    }
    const resource =
      e.method === 'POST'
        ? await this.resources.create(organizationId, e.type, e.resource, context)
        : await this.resources.update(organizationId, e.type, e.id!, e.resource, this.expectedVersion(e.ifMatch), context);
    return { done: e.method === 'POST' ? 'created' : 'updated', resource, location: `${e.type}/${resource.id}` };
  }

  /**
   * A read or search entry, its answer counted against the Bundle's budget. A
   * Binary reads as FHIR JSON; withBytes adds its bytes (for a transaction,
   * after it commits: no read of the object store holds it open).
   */
  private async read(
    organizationId: OrganizationId,
    e: BundleEntryRequest,
    context: WriteContext,
    budget: AnswerBudget,
  ): Promise<Done> {
    const fhirBase = `${context.baseUrl}/fhir`;
    if (e.search) {
      if (e.type === 'Binary') throw new MalformedResourceError('Binary has no search');
      const { page, query } = await this.resources.search(organizationId, e.type, e.search, false);
      const resource = searchsetBundle(page, query, `${fhirBase}/${e.type}`) as unknown as FhirJson;
      budget.take(resource);
      return { done: 'searched', resource, search: { type: e.type, params: e.search } };
    }
    if (e.type === 'Binary') {
      const file = await this.files.findById(organizationId, e.id!);
      await this.links.requireReadable(organizationId, file);
      // Counted as the pointer to its bytes now; withBytes puts them inline only if they fit what is left.
      const resource = binaryWithPointer(file, fhirBase);
      budget.take(resource);
      return { done: 'read', resource, location: `Binary/${file.id}`, file: `${organizationId}/${file.fileName}`, binary: file };
    }
    const resource = await this.resources.read(organizationId, e.type, e.id!);
    budget.take(resource);
    return { done: 'read', resource, location: `${resource.resourceType}/${resource.id}` };
  }

  /**
   * A Binary read with its bytes inline while they fit FHIR_BINARY_INLINE_MAX_BYTES and what the Bundle's
   * budget has left, else the _data pointer it was counted as. Never fails: for a transaction this runs
   * after the commit, and a store that cannot give the bytes now leaves the pointer, which serves them.
   */
  private async withBytes(result: Done, context: WriteContext, budget: AnswerBudget): Promise<Done> {
    if (!result.binary) return result;
    const { binary, ...rest } = result;
    if (binary.size > this.config.fhir.binaryInlineMaxBytes || !budget.tryTake(base64Length(binary.size))) return rest;
    try {
      return { ...rest, resource: await binaryWithContent(this.files, binary, binary.size, `${context.baseUrl}/fhir`) };
    } catch (e) {
      this.logger.warn(`Binary/${binary.id} read without its bytes inline: ${(e as Error).message}`);
      return rest;
    }
  }

  /** Files the transaction released, deleted after it committed; the answer waits a bounded time, and the sweeper finishes what is left. */
  private async deleteReleased(organizationId: OrganizationId, released: string[]): Promise<void> {
    if (released.length === 0) return;
    await settledWithin(this.released.delete(organizationId, released, 'a transaction deleted or changed the last resource linking it'), RELEASE_WAIT_MS);
  }

  private expectedVersion(ifMatch: string | undefined): number | undefined {
    return versionFromIfMatch(ifMatch, this.config.fhir.requireIfMatch);
  }

  /** Two writes to one resource in a transaction have no order to settle them (R4 http.html#trules): refused. */
  private refuseOverlaps(entries: BundleEntryRequest[]): void {
    const written = new Map<string, number>();
    for (const e of entries) {
      if (e.method !== 'PUT' && e.method !== 'DELETE') continue;
      const target = `${e.type}/${e.id}`;
      const earlier = written.get(target);
      if (earlier !== undefined) {
        throw new BundleEntryError(e.index, new MalformedResourceError(`${target} is also changed by Bundle.entry[${earlier}]; a transaction changes a resource once`));
      }
      written.set(target, e.index);
    }
  }
}

/** Runs one entry's work; its error, if a refusal, says which entry it was. */
async function atEntry<T>(e: BundleEntryRequest, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DomainError && !(error instanceof BundleEntryError)) throw new BundleEntryError(e.index, error);
    throw error;
  }
}
