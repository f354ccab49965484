import { EntitySchema } from 'typeorm';
import type { StoredFile } from '../domain/stored-file.js';

/** Postgres `bigint` arrives as a string; sizes stay far below 2^53. */
const bigintAsNumber = {
  to: (value: number | null) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** Mapping of `stored_files`; the table itself is created by migrations. */
export const StoredFileEntity = new EntitySchema<StoredFile>({
  name: 'StoredFile',
  tableName: 'stored_files',
  columns: {
    organizationId: { name: 'organization_id', type: 'text', primary: true },
    id: { type: 'text', primary: true },
    fileName: { name: 'file_name', type: 'text' },
    originalName: { name: 'original_name', type: 'text' },
    contentType: { name: 'content_type', type: 'text' },
    status: { type: 'text' },
    size: { type: 'bigint', nullable: true, transformer: bigintAsNumber },
    sha256: { type: 'text', nullable: true },
    sha1: { type: 'text', nullable: true },
    scanStatus: { name: 'scan_status', type: 'text' },
    scanEngine: { name: 'scan_engine', type: 'text', nullable: true },
    securityContext: { name: 'security_context', type: 'text', nullable: true },
    createdAt: { name: 'created_at', type: 'timestamptz', createDate: true },
    updatedAt: { name: 'updated_at', type: 'timestamptz', updateDate: true },
  },
});
