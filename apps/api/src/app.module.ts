import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { MulterModule } from '@nestjs/platform-express';
import { TerminusModule } from '@nestjs/terminus';
import { AppConfig, ConfigModule } from '@app/config';
import { DatabaseModule } from '@app/database';
import { FhirModule } from '@app/fhir';
import { FileStorage, FileStorageModule } from '@app/file-storage';
import { ScanningModule } from '@app/scanning';
import { TenancyModule } from '@app/tenancy';
import { FilesController } from './files/files.controller.js';
import { FileStorageEngine } from './files/upload-storage-engine.js';
import { WhoAmIController } from './auth/whoami.controller.js';
import { FhirAttachmentsController } from './fhir/fhir-attachments.controller.js';
import { FhirController } from './fhir/fhir.controller.js';
import { SignedFilesController } from './files/signed-files.controller.js';
import { UploadLimitsInterceptor } from './files/upload-limits.interceptor.js';
import { HealthController } from './health/health.controller.js';
import { GlobalExceptionFilter } from './http/exception.filter.js';
import { MetricsModule } from './metrics/metrics.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(),
        TenancyModule,
        FileStorageModule,
        ScanningModule,
        FhirModule,
        TerminusModule.forRoot({ logger: false }),
        MetricsModule,
        MulterModule.registerAsync({
          imports: [FileStorageModule],
          inject: [FileStorage],
          useFactory: (files: FileStorage) => ({
            storage: new FileStorageEngine(files),
            // Names are UTF-8 in every current browser and curl; busboy defaults to latin1.
            defParamCharset: 'utf8',
            limits: { fileSize: files.maxUploadBytes, files: 1, fields: 10, fieldSize: 8192, parts: 12, headerPairs: 32 },
          }),
        }),
      ],
      controllers: [FilesController, SignedFilesController, FhirController, FhirAttachmentsController, HealthController, WhoAmIController],
      providers: [{ provide: APP_FILTER, useClass: GlobalExceptionFilter }, UploadLimitsInterceptor],
    };
  }
}
