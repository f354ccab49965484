import { join } from 'node:path';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { loadOrCreateSecretFile, MetricsModule, ServiceMetrics } from '@app/common';
import { AppConfig } from '@app/config';
import { ScanningModule } from '@app/scanning';
import { S3Client } from '@aws-sdk/client-s3';
import { FsObjectStore } from './adapters/fs-object-store.js';
import { FsUrlSigner } from './adapters/fs-url-signer.js';
import { MeteredObjectStore } from './adapters/metered-object-store.js';
import { S3ObjectStore } from './adapters/s3-object-store.js';
import { S3UrlSigner } from './adapters/s3-url-signer.js';
import { StoredFileEntity } from './adapters/stored-file.entity.js';
import { TypeOrmFileRecordRepository } from './adapters/typeorm-file-record.repository.js';
import { FileStorageService } from './application/file-storage.service.js';
import { UnfinishedUploadSweeper } from './application/unfinished-upload.sweeper.js';
import { FileRecordRepository } from './ports/file-record.repository.port.js';
import { FileStorage } from './ports/file-storage.port.js';
import { ObjectStore } from './ports/object-store.port.js';

async function createObjectStore(config: AppConfig, metrics: ServiceMetrics): Promise<ObjectStore> {
  return new MeteredObjectStore(await configuredObjectStore(config), metrics);
}

async function configuredObjectStore(config: AppConfig): Promise<ObjectStore> {
  const storage = config.storage;
  switch (storage.driver) {
    case 'fs': {
      const secret = config.urlSigningSecret ?? (await loadOrCreateSecretFile(config.dataDir, 'url-signing-secret')).secret;
      return new FsObjectStore(join(config.dataDir, 'objects'), new FsUrlSigner(secret));
    }
    case 's3': {
      const clientFor = (endpoint: string | undefined) =>
        new S3Client({
          region: storage.region,
          endpoint,
          forcePathStyle: storage.forcePathStyle,
          // Integrity is ours (SHA-256 of every upload) and TLS's; the SDK's default
          // aws-chunked checksums are not understood by every S3-compatible store.
          requestChecksumCalculation: 'WHEN_REQUIRED',
          responseChecksumValidation: 'WHEN_REQUIRED',
          // A store that stops answering must not hold a request for ever: each attempt gives up when no
          // answer came within this long, or nothing moved for this long (the SDK retries, 3 attempts in all).
          // Without throwOnRequestTimeout the SDK only logs a warning and waits on.
          requestHandler: {
            connectionTimeout: Math.min(5000, storage.timeoutMs),
            requestTimeout: storage.timeoutMs,
            throwOnRequestTimeout: true,
            socketTimeout: storage.timeoutMs,
          },
        });
      const client = clientFor(storage.endpoint);
      // Credentials come from the SDK's default chain (env, profile, web identity/IRSA, instance role).
      await client.config.region().catch((e: unknown) => {
        throw new Error(`STORAGE_DRIVER=s3 needs a region (AWS_REGION or the SDK's configuration): ${(e as Error).message}`);
      });
      // SigV4 signs the host, so URLs for clients are signed by a client of the endpoint they reach.
      const presignClient = storage.publicEndpoint ? clientFor(storage.publicEndpoint) : client;
      return new S3ObjectStore(client, storage, new S3UrlSigner(presignClient, storage.bucket));
    }
  }
}

/**
 * Files: checking, storing, serving and deleting them. Exports only the
 * FileStorage port; the store and repository adapters stay private.
 */
@Module({
  imports: [TypeOrmModule.forFeature([StoredFileEntity]), ScanningModule, MetricsModule],
  providers: [
    { provide: ObjectStore, inject: [AppConfig, ServiceMetrics], useFactory: createObjectStore },
    { provide: FileRecordRepository, useClass: TypeOrmFileRecordRepository },
    { provide: FileStorage, useClass: FileStorageService },
    UnfinishedUploadSweeper,
  ],
  exports: [FileStorage],
})
export class FileStorageModule {}
