import { Module } from '@nestjs/common';
import { MetricsModule } from '@app/common';
import { FileStorageModule } from '@app/file-storage';
import { MedplumResourceValidator } from './adapters/medplum-resource-validator.js';
import { TypeOrmResourceRepository } from './adapters/typeorm-resource.repository.js';
import { AttachmentLinker } from './application/attachment-linker.js';
import { FileLinksService } from './application/file-links.service.js';
import { FhirBundleService } from './application/fhir-bundle.service.js';
import { FhirResourceService } from './application/fhir-resource.service.js';
import { OrphanFileSweeper } from './application/orphan-file.sweeper.js';
import { ReleasedFiles } from './application/released-files.js';
import { FhirBundles } from './ports/fhir-bundles.port.js';
import { FhirResources } from './ports/fhir-resources.port.js';
import { FileLinks } from './ports/file-links.port.js';
import { ResourceRepository } from './ports/resource.repository.port.js';
import { ResourceValidator } from './ports/resource-validator.port.js';

/**
 * FHIR R4 resources with attachments. Talks to files only through the
 * FileStorage port; exports only its ports: FhirResources, FhirBundles (POST /fhir), and FileLinks
 * (which resources link which files) for the file API.
 */
@Module({
  imports: [FileStorageModule, MetricsModule],
  providers: [
    { provide: ResourceValidator, useClass: MedplumResourceValidator },
    { provide: ResourceRepository, useClass: TypeOrmResourceRepository },
    FhirResourceService,
    { provide: FhirResources, useExisting: FhirResourceService },
    { provide: FhirBundles, useClass: FhirBundleService },
    { provide: FileLinks, useClass: FileLinksService },
    AttachmentLinker,
    ReleasedFiles,
    OrphanFileSweeper,
  ],
  exports: [FhirResources, FhirBundles, FileLinks],
})
export class FhirModule {}
