import { Injectable } from '@nestjs/common';
import { In, type EntityManager } from 'typeorm';
import { OrganizationScope, type CommitRider } from '@app/database';
import type { OrganizationId } from '@app/tenancy';
import type { AvailableFile, FileListing, HeldFile, StoredFile } from '../domain/stored-file.js';
import { UploadExpiredError } from '../domain/errors.js';
import {
  FileRecordRepository,
  type CompletedUpload,
  type FilePage,
  type FilePosition,
  type NewFileRecord,
  type UnfinishedFile,
} from '../ports/file-record.repository.port.js';
import { StoredFileEntity } from './stored-file.entity.js';

/**
 * Every column under its StoredFile name. The hot paths (each download, an
 * upload's two writes) run as plain SQL in one round trip each: TypeORM's
 * query builder, entity hydration and explicit transaction cost several
 * round trips and about a fifth of the throughput.
 */
const STORED_FILE_COLUMNS = `organization_id AS "organizationId", id, file_name AS "fileName", original_name AS "originalName",
  content_type AS "contentType", status, size, sha256, sha1, scan_status AS "scanStatus", scan_engine AS "scanEngine",
  security_context AS "securityContext",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** bigint arrives as a string; sizes are far below 2^53. */
function withNumericSize<F extends AvailableFile | HeldFile>(row: F & { size: string }): F {
  return { ...row, size: Number(row.size) };
}

/**
 * stored_files, one organization per transaction (row-level security); the
 * `organization_id` of each query stays as the first wall. Only the
 * *AcrossOrganizations methods, for the sweepers, cross organizations.
 */
@Injectable()
export class TypeOrmFileRecordRepository extends FileRecordRepository {
  constructor(private readonly scope: OrganizationScope) {
    super();
  }

  // An upload's two writes are one round trip each, as plain SQL: a 1 KiB upload spends most of its time waiting on them (P5).
  // The second also carries the upload's audit record when the audit trail rides on writes (CommitRider).
  async insertPending(record: NewFileRecord): Promise<void> {
    await this.scope.statementForOrganization(
      record.organizationId,
      (literal) =>
        `INSERT INTO stored_files (organization_id, id, file_name, original_name, content_type, security_context, status, scan_status)
         VALUES (${[record.organizationId, record.id, record.fileName, record.originalName, record.contentType].map(literal).join(', ')},
                 ${record.securityContext === null ? 'NULL' : literal(record.securityContext)}, 'pending', 'pending')`,
    );
  }

  async markAvailable(organizationId: OrganizationId, id: string, facts: CompletedUpload, rider?: CommitRider): Promise<AvailableFile> {
    if (!rider) return this.completed<AvailableFile>(organizationId, id, facts, 'available');
    let file: AvailableFile;
    try {
      file = await this.completed<AvailableFile>(organizationId, id, facts, 'available', rider);
    } catch (e) {
      throw rider.settle(e) ?? e;
    }
    rider.settle();
    return file;
  }

  markChecked(organizationId: OrganizationId, id: string, facts: CompletedUpload): Promise<HeldFile> {
    return this.completed<HeldFile>(organizationId, id, facts, 'pending');
  }

  async confirm(organizationId: OrganizationId, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const wanted = new Set(ids);
    // One statement, all or none even outside a caller's transaction: it changes nothing unless every one is still pending.
    const rows = await this.scope.statementForOrganization<{ id: string }>(
      organizationId,
      (literal) =>
        `WITH held AS (
           SELECT id FROM stored_files
            WHERE organization_id = ${literal(organizationId)} AND id IN (${[...wanted].map(literal).join(', ')}) AND status = 'pending'
            FOR UPDATE)
         UPDATE stored_files s SET status = 'available', updated_at = now()
           FROM held
          WHERE s.organization_id = ${literal(organizationId)} AND s.id = held.id AND (SELECT count(*) FROM held) = ${wanted.size}
          RETURNING s.id`,
    );
    if (rows.length !== wanted.size) throw new UploadExpiredError();
  }

  /** The upload's facts and its new status, with the rider's expression evaluated for the row in the same statement. */
  private async completed<F extends AvailableFile | HeldFile>(
    organizationId: OrganizationId,
    id: string,
    facts: CompletedUpload,
    status: F['status'],
    rider?: CommitRider,
  ): Promise<F> {
    const [row] = await this.scope.statementForOrganization<F & { size: string; rider?: unknown }>(organizationId, (literal) => {
      const update = `UPDATE stored_files
            SET status = ${literal(status)}, size = ${literal(String(facts.size))}::bigint, sha256 = ${literal(facts.sha256)}, sha1 = ${literal(facts.sha1)},
                scan_status = ${literal(facts.scanStatus)}, scan_engine = ${facts.scanEngine === null ? 'NULL' : literal(facts.scanEngine)}, updated_at = now()
          WHERE organization_id = ${literal(organizationId)} AND id = ${literal(id)} AND status = 'pending'
          RETURNING ${STORED_FILE_COLUMNS}`;
      // A select-list expression runs once per row the update returned: never for an expired upload.
      return rider ? `WITH marked AS (${update}) SELECT marked.*, ${rider.expression(literal)} AS rider FROM marked` : update;
    });
    if (!row) throw new UploadExpiredError();
    const { rider: _, ...file } = row;
    return withNumericSize(file as F & { size: string });
  }

  findAvailable(organizationId: OrganizationId, fileName: string): Promise<AvailableFile | null> {
    return this.findAvailableWhere(organizationId, 'file_name', fileName);
  }

  findAvailableById(organizationId: OrganizationId, id: string): Promise<AvailableFile | null> {
    return this.findAvailableWhere(organizationId, 'id', id);
  }

  private async findAvailableWhere(organizationId: OrganizationId, column: 'file_name' | 'id', value: string): Promise<AvailableFile | null> {
    // One round trip, the organization's setting included: this runs for every download and every 307.
    const [row] = await this.scope.statementForOrganization<AvailableFile & { size: string }>(
      organizationId,
      (literal) =>
        `SELECT ${STORED_FILE_COLUMNS} FROM stored_files
          WHERE organization_id = ${literal(organizationId)} AND ${column} = ${literal(value)} AND status = 'available'`,
    );
    return row ? withNumericSize(row) : null;
  }

  async listAvailable(organizationId: OrganizationId, limit: number, before?: FilePosition): Promise<FilePage> {
    // The position keeps created_at as text: a JavaScript Date would drop its microseconds and skip rows.
    const rows: Array<AvailableFile & { size: string; position: string }> = await this.scope.forOrganization(organizationId, (m) =>
      m.query(
        `SELECT ${STORED_FILE_COLUMNS}, created_at::text AS position FROM stored_files
          WHERE organization_id = $1 AND status = 'available' AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3))
          ORDER BY created_at DESC, id DESC LIMIT $4`,
        [organizationId, before?.createdAt ?? null, before?.id ?? '', limit + 1],
      ),
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      files: page.map(({ position: _, ...file }) => withNumericSize(file)),
      next: rows.length > limit && last ? { createdAt: last.position, id: last.id } : undefined,
    };
  }

  findDeletable(organizationId: OrganizationId, fileName: string): Promise<StoredFile | null> {
    return this.scope.forOrganization(organizationId, (m) =>
      files(m).findOneBy({ organizationId, fileName, status: In(['available', 'deleting']) }),
    );
  }

  markDeleting(organizationId: OrganizationId, id: string): Promise<void> {
    return this.scope.forOrganization(organizationId, async (m) => {
      await files(m).update({ organizationId, id, status: 'available' }, { status: 'deleting' });
    });
  }

  remove(organizationId: OrganizationId, id: string): Promise<void> {
    return this.scope.forOrganization(organizationId, async (m) => {
      await files(m).delete({ organizationId, id });
    });
  }

  async listAvailableAcrossOrganizations(createdBefore: Date, after: FileListing | undefined, limit: number): Promise<FileListing[]> {
    const cursor = after ? [after.createdAt, after.organizationId, after.id] : [new Date(0), '', ''];
    const rows: Array<{ organization_id: OrganizationId; id: string; file_name: string; created_at: Date }> =
      await this.scope.acrossOrganizations('orphan sweeper: list available files', (m) =>
        m.query(
          `SELECT organization_id, id, file_name, created_at FROM stored_files
            WHERE status = 'available' AND created_at < $1 AND (created_at, organization_id, id) > ($2, $3, $4)
            ORDER BY created_at, organization_id, id LIMIT $5`,
          [createdBefore, ...cursor, limit],
        ),
      );
    return rows.map((r) => ({ organizationId: r.organization_id, id: r.id, fileName: r.file_name, createdAt: r.created_at }));
  }

  async claimUnfinishedAcrossOrganizations(olderThan: Date, limit: number): Promise<UnfinishedFile[]> {
    // For UPDATE, TypeORM's raw query answers [rows, rowCount].
    const [rows]: [Array<{ organization_id: OrganizationId; id: string; file_name: string }>, number] =
      await this.scope.acrossOrganizations('unfinished upload sweeper: claim unfinished files', (m) =>
        m.query(
          `UPDATE stored_files SET status = 'deleting', updated_at = now()
            WHERE (organization_id, id) IN (
              SELECT organization_id, id FROM stored_files
               WHERE status IN ('pending', 'deleting') AND updated_at < $1
               ORDER BY updated_at LIMIT $2
               FOR UPDATE SKIP LOCKED)
            RETURNING organization_id, id, file_name`,
          [olderThan, limit],
        ),
      );
    return rows.map((r) => ({ organizationId: r.organization_id, id: r.id, fileName: r.file_name }));
  }
}

function files(m: EntityManager) {
  return m.getRepository(StoredFileEntity);
}
