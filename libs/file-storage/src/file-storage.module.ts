import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '@app/config';
import { ScanningModule } from '@app/scanning';
import { FsObjectStore } from './adapters/fs-object-store.js';
import { StoredFileEntity } from './adapters/stored-file.entity.js';
import { TypeOrmFileRecordRepository } from './adapters/typeorm-file-record.repository.js';
import { FileStorageService } from './application/file-storage.service.js';
import { UnfinishedUploadSweeper } from './application/unfinished-upload.sweeper.js';
import { FileRecordRepository } from './ports/file-record.repository.port.js';
import { FileStorage } from './ports/file-storage.port.js';
import { ObjectStore } from './ports/object-store.port.js';

function createObjectStore(config: AppConfig): ObjectStore {
  switch (config.storage.driver) {
    case 'fs':
      return new FsObjectStore(join(config.dataDir, 'objects'));
  }
}

/**
 * Files: checking, storing, serving and deleting them. Exports only the
 * FileStorage port; the store and repository adapters stay private.
 */
@Module({
  imports: [TypeOrmModule.forFeature([StoredFileEntity]), ScanningModule],
  providers: [
    { provide: ObjectStore, inject: [AppConfig], useFactory: createObjectStore },
    { provide: FileRecordRepository, useClass: TypeOrmFileRecordRepository },
    { provide: FileStorage, useClass: FileStorageService },
    UnfinishedUploadSweeper,
  ],
  exports: [FileStorage],
})
export class FileStorageModule {}
