import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThan, type Repository } from 'typeorm';
import type { OrganizationId } from '@app/tenancy';
import type { AvailableFile, StoredFile } from '../domain/stored-file.js';
import { FileRecordRepository, type CompletedUpload, type NewFileRecord } from '../ports/file-record.repository.port.js';
import { StoredFileEntity } from './stored-file.entity.js';

export class TypeOrmFileRecordRepository extends FileRecordRepository {
  constructor(@InjectRepository(StoredFileEntity) private readonly rows: Repository<StoredFile>) {
    super();
  }

  async insertPending(record: NewFileRecord): Promise<void> {
    await this.rows.insert({ ...record, status: 'pending', scanStatus: 'pending' });
  }

  async markAvailable(organizationId: OrganizationId, id: string, facts: CompletedUpload): Promise<AvailableFile> {
    const result = await this.rows.update({ organizationId, id, status: 'pending' }, { ...facts, status: 'available' });
    if (result.affected !== 1) throw new Error(`Upload ${organizationId}/${id} is no longer pending`);
    return (await this.rows.findOneByOrFail({ organizationId, id })) as AvailableFile;
  }

  findAvailable(organizationId: OrganizationId, fileName: string): Promise<AvailableFile | null> {
    return this.rows.findOneBy({ organizationId, fileName, status: 'available' }) as Promise<AvailableFile | null>;
  }

  async markDeleting(organizationId: OrganizationId, id: string): Promise<boolean> {
    const result = await this.rows.update({ organizationId, id, status: 'available' }, { status: 'deleting' });
    return (result.affected ?? 0) > 0;
  }

  async remove(organizationId: OrganizationId, id: string): Promise<void> {
    await this.rows.delete({ organizationId, id });
  }

  findUnfinishedAcrossOrganizations(olderThan: Date, limit: number): Promise<StoredFile[]> {
    return this.rows.find({
      where: { status: In(['pending', 'deleting']), updatedAt: LessThan(olderThan) },
      order: { updatedAt: 'ASC' },
      take: limit,
    });
  }
}
