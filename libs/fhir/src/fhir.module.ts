import { Module } from '@nestjs/common';
import { FileStorageModule } from '@app/file-storage';
import { MedplumResourceValidator } from './adapters/medplum-resource-validator.js';
import { TypeOrmResourceRepository } from './adapters/typeorm-resource.repository.js';
import { AttachmentLinker } from './application/attachment-linker.js';
import { FhirResourceService } from './application/fhir-resource.service.js';
import { OrphanFileSweeper } from './application/orphan-file.sweeper.js';
import { ReleasedFiles } from './application/released-files.js';
import { FhirResources } from './ports/fhir-resources.port.js';
import { ResourceRepository } from './ports/resource.repository.port.js';
import { ResourceValidator } from './ports/resource-validator.port.js';

/**
 * FHIR R4 resources with attachments. Talks to files only through the
 * FileStorage port; exports only the FhirResources port.
 */
@Module({
  imports: [FileStorageModule],
  providers: [
    { provide: ResourceValidator, useClass: MedplumResourceValidator },
    { provide: ResourceRepository, useClass: TypeOrmResourceRepository },
    { provide: FhirResources, useClass: FhirResourceService },
    AttachmentLinker,
    ReleasedFiles,
    OrphanFileSweeper,
  ],
  exports: [FhirResources],
})
export class FhirModule {}
