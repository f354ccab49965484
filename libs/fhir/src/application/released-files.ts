import { Injectable, Logger } from '@nestjs/common';
import { FileStorage } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import { ResourceRepository } from '../ports/resource.repository.port.js';

/** Deletes files that no resource links any more (released by the repository). */
@Injectable()
export class ReleasedFiles {
  private readonly logger = new Logger('ReleasedFiles');

  constructor(
    private readonly files: FileStorage,
    private readonly repository: ResourceRepository,
  ) {}

  /** Never throws: a failed deletion stays released, and the sweeper finishes it later. */
  async delete(organizationId: OrganizationId, fileNames: readonly string[], reason: string): Promise<number> {
    let deleted = 0;
    for (const fileName of fileNames) {
      try {
        await this.files.delete(organizationId, fileName).catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'file_not_found') throw e;
        });
        await this.repository.markReleaseDone(organizationId, fileName);
        this.logger.log(`Deleted file ${organizationId}/${fileName}: ${reason}`);
        deleted++;
      } catch (e) {
        this.logger.warn(`Deleting file ${organizationId}/${fileName} (${reason}) failed: ${(e as Error).message}; the sweeper will retry`);
      }
    }
    return deleted;
  }
}
