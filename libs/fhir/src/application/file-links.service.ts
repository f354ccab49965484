import { Injectable, Logger } from '@nestjs/common';
import { FileStorage, isFileName, StoredFileNotFoundError } from '@app/file-storage';
import type { OrganizationId } from '@app/tenancy';
import { FileInUseError, InvalidResourceError, SecurityContextDeniedError } from '../domain/errors.js';
import type { ResourceType } from '../domain/resource-types.js';
import { FileLinks } from '../ports/file-links.port.js';
import { ResourceRepository } from '../ports/resource.repository.port.js';

@Injectable()
export class FileLinksService extends FileLinks {
  private readonly logger = new Logger('FileLinks');

  constructor(
    private readonly repository: ResourceRepository,
    private readonly files: FileStorage,
  ) {
    super();
  }

  linkedBy(organizationId: OrganizationId, fileNames: readonly string[]): Promise<Map<string, string[]>> {
    return this.repository.linkedBy(organizationId, fileNames);
  }

  async deleteUnlinked(organizationId: OrganizationId, fileName: string): Promise<void> {
    if (!isFileName(fileName)) throw new StoredFileNotFoundError();
    // Released first, under the lock linking takes: from here on no resource can link it.
    const { linkedBy, deleted } = await this.repository.releaseForDeletion(organizationId, fileName);
    if (linkedBy.length > 0) throw new FileInUseError(linkedBy);
    // Deleted a moment ago: with the last resource linking it (a client that deletes the resource,
    // then its file, as the product document advises), or by a DELETE whose answer was lost.
    // The file is gone, which is what it asks for.
    if (deleted) return;
    try {
      await this.files.delete(organizationId, fileName);
    } catch (e) {
      // Nothing to delete: the release is done. Anything else: the sweeper finishes the release later.
      if (e instanceof StoredFileNotFoundError) await this.repository.markReleaseDone(organizationId, fileName);
      throw e;
    }
    await this.repository.markReleaseDone(organizationId, fileName);
    this.logger.log(`Deleted file ${organizationId}/${fileName} on request; no resource linked it`);
  }

  async requireReadable(organizationId: OrganizationId, file: { securityContext: string | null }): Promise<void> {
    if (file.securityContext && !(await this.exists(organizationId, file.securityContext))) throw new SecurityContextDeniedError(file.securityContext);
  }

  async requireContext(organizationId: OrganizationId, securityContext: string, where: string): Promise<void> {
    if (!(await this.exists(organizationId, securityContext))) {
      throw InvalidResourceError.single(`securityContext ${securityContext} is not a resource of this organization`, where);
    }
  }

  /** A kept securityContext is `Type/id` of a served type (parseSecurityContext made it so). */
  private async exists(organizationId: OrganizationId, reference: string): Promise<boolean> {
    const [type, id] = reference.split('/') as [ResourceType, string];
    return (await this.repository.find(organizationId, type, id)) !== null;
  }
}
