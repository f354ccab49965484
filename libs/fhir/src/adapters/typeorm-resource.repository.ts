import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { ChangeFeed, OrganizationScope } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import { InvalidResourceError, ResourceNotFoundError, VersionConflictError } from '../domain/errors.js';
import { definitionOf, type FhirJson, type ResourceType } from '../domain/resource-types.js';
import { dateConditionSql, type SearchPage, type SearchQuery } from '../domain/search.js';
import {
  ResourceRepository,
  type ReleasedFile,
  type ResourceWithFiles,
  type ResourceWrite,
  type WriteOptions,
  type WriteResult,
} from '../ports/resource.repository.port.js';
import { ResourceReadCache } from './resource-read-cache.js';

/** jsonb keeps keys in its own order; FHIR JSON reads best with resourceType, id and meta first. */
function inFhirOrder({ resourceType, id, meta, ...rest }: FhirJson): FhirJson {
  return { resourceType, id, meta, ...rest };
}

/**
 * Resources as jsonb rows, with their links to files. Writes that change
 * links take a transaction-scoped advisory lock per file, the same lock the
 * release of an unlinked file takes, so a file is never released while a
 * resource is being linked to it, nor linked once it is being released.
 * Every query runs for one organization (row-level security), with its
 * `organization_id` filter as the first wall; only the *AcrossOrganizations
 * methods, for the sweeper, cross organizations.
 */
@Injectable()
export class TypeOrmResourceRepository extends ResourceRepository {
  /** FHIR_READ_CACHE_ENTRIES with a real Postgres: reads outside a transaction are answered from memory when they can be. */
  private readonly cache?: ResourceReadCache;
  /** After an update or delete commits: until every replica has seen it, then it may be answered. */
  private readonly seenEverywhere: (committedAt: number) => Promise<void>;

  constructor(
    private readonly scope: OrganizationScope,
    feed: ChangeFeed,
    config: AppConfig,
    metrics: ServiceMetrics,
  ) {
    super();
    if (feed.enabled && config.fhir.readCacheEntries > 0) this.cache = new ResourceReadCache(feed, config.fhir.readCacheEntries, metrics.readCache);
    this.seenEverywhere = (committedAt) => feed.seenEverywhere(committedAt);
  }

  transaction<T>(organizationId: OrganizationId, work: () => Promise<T>): Promise<T> {
    // OrganizationScope hands the open transaction to every call of this organization inside `work`.
    return this.scope.forOrganization(organizationId, () => work());
  }

  find(organizationId: OrganizationId, type: ResourceType, id: string): Promise<FhirJson | null> {
    const load = async () => {
      // One round trip, the organization's setting included: every read starts here.
      const rows = await this.scope.callForOrganization<{ resource: FhirJson }>('fhir_resource', organizationId, type, id);
      return rows[0] ? inFhirOrder(rows[0].resource) : null;
    };
    const cache = this.cacheFor(organizationId);
    return cache ? cache.resource(ResourceReadCache.key(organizationId, type, id), load) : load();
  }

  findWithFiles(organizationId: OrganizationId, type: ResourceType, id: string): Promise<ResourceWithFiles | null> {
    const load = async () => {
      // One round trip for an attachment's 307: the resource, and the facts of the files it links.
      const rows = await this.scope.callForOrganization<ResourceWithFiles>('fhir_resource_with_files', organizationId, type, id);
      return rows[0] ? { resource: inFhirOrder(rows[0].resource), files: rows[0].files } : null;
    };
    const cache = this.cacheFor(organizationId);
    return cache ? cache.withFiles(ResourceReadCache.key(organizationId, type, id), load) : load();
  }

  /**
   * A write of `work`, whose refusal for another's change (404: deleted, 412:
   * changed) is answered only once every replica has seen that change, as
   * the change's own answer is: a client told "gone" by one replica must not
   * be served the resource by another.
   */
  private async refusedAfterOthers<T>(organizationId: OrganizationId, work: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.scope.forOrganization(organizationId, work);
    } catch (e) {
      if (e instanceof ResourceNotFoundError || e instanceof VersionConflictError) await this.seenEverywhere(performance.now());
      throw e;
    }
  }

  /** Inside a transaction a read must see what the transaction wrote: only reads outside one use the cache. */
  private cacheFor(organizationId: OrganizationId): ResourceReadCache | undefined {
    return this.cache && !this.scope.inTransaction(organizationId) ? this.cache : undefined;
  }

  async search(organizationId: OrganizationId, type: ResourceType, query: SearchQuery): Promise<SearchPage> {
    const params: unknown[] = [organizationId, type];
    const param = (value: unknown) => `$${params.push(value)}`;
    const where = ['organization_id = $1', 'resource_type = $2'];
    if (query.ids) where.push(`id = ANY(${param(query.ids)}::text[])`);
    if (query.subjects) {
      const alternatives = query.subjects.map((s) =>
        s.type ? `(subject_type = ${param(s.type)} AND subject_id = ${param(s.id)})` : `subject_id = ${param(s.id)}`,
      );
      where.push(`(${alternatives.join(' OR ')})`);
    }
    if (query.statuses) where.push(`resource->>'status' = ANY(${param(query.statuses)}::text[])`);
    if (query.codes) {
      const element = definitionOf(type).codeElement;
      if (!element) throw new Error(`${type} has no code element to search`);
      // Any coding of the CodeableConcept: a malformed one (not an array) matches nothing.
      const alternatives = query.codes.map((t) => {
        const system = t.system === undefined ? '' : t.system === null ? ` AND NOT c ? 'system'` : ` AND c->>'system' = ${param(t.system)}`;
        return `(c->>'code' = ${param(t.code)}${system})`;
      });
      where.push(
        `EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(resource->'${element}'->'coding') = 'array' ` +
          `THEN resource->'${element}'->'coding' ELSE '[]'::jsonb END) c WHERE ${alternatives.join(' OR ')})`,
      );
    }
    for (const c of query.lastUpdated) {
      where.push(dateConditionSql('last_updated', c, param));
    }
    const filter = where.join(' AND ');

    return this.scope.forOrganization(organizationId, async (m) => {
      const [{ total }]: [{ total: number }] = await m.query(`SELECT count(*)::int AS total FROM fhir_resources WHERE ${filter}`, params);
      if (query.count === 0 || query.offset >= total) return { resources: [], total };
      const rows: Array<{ resource: FhirJson }> = await m.query(
        `SELECT resource FROM fhir_resources WHERE ${filter} ORDER BY last_updated, id LIMIT ${param(query.count)} OFFSET ${param(query.offset)}`,
        params,
      );
      return { resources: rows.map((r) => inFhirOrder(r.resource)), total };
    });
  }

  write(organizationId: OrganizationId, w: ResourceWrite, options: WriteOptions = {}): Promise<WriteResult> {
    return this.refusedAfterOthers(organizationId, async (m) => {
      const current = await this.lockResource(m, organizationId, w.type, w.id);
      if (w.expected === 'create') {
        if (current !== undefined) throw new VersionConflictError(String(current));
      } else {
        if (current === undefined) throw new ResourceNotFoundError(w.type, w.id);
        if (w.expected !== undefined && w.expected !== current) throw new VersionConflictError(String(current));
        this.scope.afterCommit(organizationId, this.seenEverywhere);
      }
      const fileNames = w.files.map((f) => f.fileName);
      const previous = current === undefined ? [] : await this.linkedFiles(m, organizationId, w.type, w.id);
      await this.lockFiles(m, organizationId, [...previous, ...fileNames]);
      const releasing: Array<{ file_name: string }> = await m.query(
        'SELECT file_name FROM fhir_file_releases WHERE organization_id = $1 AND file_name = ANY($2::text[])',
        [organizationId, fileNames],
      );
      if (releasing.length > 0) {
        throw InvalidResourceError.single(`The file ${releasing[0]!.file_name} is being deleted, or was, and cannot be linked`);
      }

      const version = (current ?? 0) + 1;
      const lastUpdated = new Date();
      const resource = inFhirOrder({
        ...w.resource,
        id: w.id,
        meta: { ...w.resource.meta, versionId: String(version), lastUpdated: lastUpdated.toISOString() },
      });
      await m.query(
        `INSERT INTO fhir_resources (organization_id, resource_type, id, version_id, last_updated, subject_type, subject_id, resource)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (organization_id, resource_type, id) DO UPDATE
           SET version_id = EXCLUDED.version_id, last_updated = EXCLUDED.last_updated, subject_type = EXCLUDED.subject_type,
               subject_id = EXCLUDED.subject_id, resource = EXCLUDED.resource`,
        [organizationId, w.type, w.id, version, lastUpdated, w.subject?.type ?? null, w.subject?.id ?? null, resource],
      );
      await m.query(
        `DELETE FROM fhir_file_links
          WHERE organization_id = $1 AND resource_type = $2 AND resource_id = $3 AND NOT (file_name = ANY($4::text[]))`,
        [organizationId, w.type, w.id, fileNames],
      );
      // A link made before its facts were kept gets them now (ON CONFLICT); they never change for a stored file.
      await m.query(
        `INSERT INTO fhir_file_links (organization_id, file_name, resource_type, resource_id, content_type, original_name, security_context)
         SELECT $1, f.file_name, $3, $4, f.content_type, f.original_name, f.security_context
           FROM unnest($2::text[], $5::text[], $6::text[], $7::text[]) AS f (file_name, content_type, original_name, security_context)
         ON CONFLICT (organization_id, file_name, resource_type, resource_id)
           DO UPDATE SET content_type = EXCLUDED.content_type, original_name = EXCLUDED.original_name, security_context = EXCLUDED.security_context
           WHERE fhir_file_links.content_type IS NULL`,
        [
          organizationId,
          fileNames,
          w.type,
          w.id,
          w.files.map((f) => f.contentType),
          w.files.map((f) => f.originalName),
          w.files.map((f) => f.securityContext),
        ],
      );
      const dropped = previous.filter((f) => !fileNames.includes(f));
      return { resource, dropped, released: options.releaseLater ? [] : await this.releaseLocked(m, organizationId, dropped) };
    });
  }

  remove(organizationId: OrganizationId, type: ResourceType, id: string, expectedVersion?: number, options: WriteOptions = {}): Promise<string[]> {
    return this.refusedAfterOthers(organizationId, async (m) => {
      const current = await this.lockResource(m, organizationId, type, id);
      if (current === undefined) throw new ResourceNotFoundError(type, id);
      if (expectedVersion !== undefined && expectedVersion !== current) throw new VersionConflictError(String(current));
      this.scope.afterCommit(organizationId, this.seenEverywhere);
      const previous = await this.linkedFiles(m, organizationId, type, id);
      await this.lockFiles(m, organizationId, previous);
      // Its links go with it (ON DELETE CASCADE).
      await m.query('DELETE FROM fhir_resources WHERE organization_id = $1 AND resource_type = $2 AND id = $3', [organizationId, type, id]);
      return options.releaseLater ? previous : this.releaseLocked(m, organizationId, previous);
    });
  }

  lockForWrites(organizationId: OrganizationId, resources: ReadonlyArray<{ type: ResourceType; id: string }>, fileNames: readonly string[]): Promise<void> {
    return this.scope.forOrganization(organizationId, async (m) => {
      const types = resources.map((r) => r.type);
      const ids = resources.map((r) => r.id);
      // Rows first, then files, each sorted: the order every single write takes them in too (one row, then its files).
      await m.query(
        `SELECT 1 FROM fhir_resources
          WHERE organization_id = $1 AND (resource_type, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
          ORDER BY resource_type, id FOR UPDATE`,
        [organizationId, types, ids],
      );
      const linked: Array<{ file_name: string }> = await m.query(
        `SELECT file_name FROM fhir_file_links
          WHERE organization_id = $1 AND (resource_type, resource_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
        [organizationId, types, ids],
      );
      await this.lockFiles(m, organizationId, [...fileNames, ...linked.map((l) => l.file_name)]);
    });
  }

  async linkedBy(organizationId: OrganizationId, fileNames: readonly string[]): Promise<Map<string, string[]>> {
    const rows: Array<{ file_name: string; reference: string }> = await this.scope.forOrganization(organizationId, (m) =>
      m.query(
        `SELECT file_name, resource_type || '/' || resource_id AS reference FROM fhir_file_links
          WHERE organization_id = $1 AND file_name = ANY($2::text[]) ORDER BY file_name, resource_type, resource_id`,
        [organizationId, fileNames],
      ),
    );
    const links = new Map<string, string[]>();
    for (const { file_name, reference } of rows) links.set(file_name, [...(links.get(file_name) ?? []), reference]);
    return links;
  }

  releaseForDeletion(organizationId: OrganizationId, fileName: string): Promise<{ linkedBy: string[]; deleted: boolean }> {
    return this.scope.forOrganization(organizationId, async (m) => {
      // The lock a write that links the file takes: it either linked the file before this, or sees the release after.
      await this.lockFiles(m, organizationId, [fileName]);
      const links: Array<{ reference: string }> = await m.query(
        `SELECT resource_type || '/' || resource_id AS reference FROM fhir_file_links
          WHERE organization_id = $1 AND file_name = $2 ORDER BY resource_type, resource_id`,
        [organizationId, fileName],
      );
      if (links.length > 0) return { linkedBy: links.map((l) => l.reference), deleted: false };
      const tombstone: Array<{ deleted: boolean }> = await m.query(
        'SELECT deleted_at IS NOT NULL AS deleted FROM fhir_file_releases WHERE organization_id = $1 AND file_name = $2',
        [organizationId, fileName],
      );
      if (tombstone[0]?.deleted) return { linkedBy: [], deleted: true };
      await this.releaseLocked(m, organizationId, [fileName]);
      return { linkedBy: [], deleted: false };
    });
  }

  releaseUnlinked(organizationId: OrganizationId, fileNames: readonly string[]): Promise<string[]> {
    return this.scope.forOrganization(organizationId, async (m) => {
      await this.lockFiles(m, organizationId, fileNames);
      return this.releaseLocked(m, organizationId, fileNames);
    });
  }

  async markReleaseDone(organizationId: OrganizationId, fileName: string): Promise<void> {
    await this.scope.forOrganization(organizationId, (m) =>
      m.query('UPDATE fhir_file_releases SET deleted_at = now() WHERE organization_id = $1 AND file_name = $2', [organizationId, fileName]),
    );
  }

  async purgeTombstonesAcrossOrganizations(before: Date): Promise<number> {
    const [, count]: [unknown, number] = await this.scope.acrossOrganizations('orphan sweeper: purge release tombstones', (m) =>
      m.query('DELETE FROM fhir_file_releases WHERE deleted_at < $1', [before]),
    );
    return count;
  }

  async unfinishedReleasesAcrossOrganizations(olderThan: Date, limit: number): Promise<ReleasedFile[]> {
    // Claimed by moving their timestamp, so two sweepers never take the same release.
    const [rows]: [Array<{ organization_id: OrganizationId; file_name: string }>, number] = await this.scope.acrossOrganizations(
      'orphan sweeper: claim unfinished releases',
      (m) =>
        m.query(
          `UPDATE fhir_file_releases SET released_at = now()
            WHERE (organization_id, file_name) IN (
              SELECT organization_id, file_name FROM fhir_file_releases
               WHERE deleted_at IS NULL AND released_at < $1 ORDER BY released_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING organization_id, file_name`,
          [olderThan, limit],
        ),
    );
    return rows.map((r) => ({ organizationId: r.organization_id, fileName: r.file_name }));
  }

  /** The current version, locked until the transaction ends; undefined when the resource does not exist. */
  private async lockResource(m: EntityManager, organizationId: OrganizationId, type: ResourceType, id: string): Promise<number | undefined> {
    const rows: Array<{ version_id: number }> = await m.query(
      'SELECT version_id FROM fhir_resources WHERE organization_id = $1 AND resource_type = $2 AND id = $3 FOR UPDATE',
      [organizationId, type, id],
    );
    return rows[0]?.version_id;
  }

  private async linkedFiles(m: EntityManager, organizationId: OrganizationId, type: ResourceType, id: string): Promise<string[]> {
    const rows: Array<{ file_name: string }> = await m.query(
      'SELECT file_name FROM fhir_file_links WHERE organization_id = $1 AND resource_type = $2 AND resource_id = $3',
      [organizationId, type, id],
    );
    return rows.map((r) => r.file_name);
  }

  /** One advisory lock per file, always taken in the same (sorted) order so that two writers cannot deadlock. */
  private async lockFiles(m: EntityManager, organizationId: OrganizationId, fileNames: readonly string[]): Promise<void> {
    for (const fileName of [...new Set(fileNames)].sort()) {
      await m.query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))", [organizationId, fileName]);
    }
  }

  /** Records as released those of these (locked) files that no resource links. */
  private async releaseLocked(m: EntityManager, organizationId: OrganizationId, fileNames: readonly string[]): Promise<string[]> {
    if (fileNames.length === 0) return [];
    const rows: Array<{ file_name: string }> = await m.query(
      `INSERT INTO fhir_file_releases (organization_id, file_name)
       SELECT $1, f FROM unnest($2::text[]) AS f
        WHERE NOT EXISTS (SELECT 1 FROM fhir_file_links l WHERE l.organization_id = $1 AND l.file_name = f)
       ON CONFLICT DO NOTHING
       RETURNING file_name`,
      [organizationId, fileNames],
    );
    return rows.map((r) => r.file_name);
  }
}
