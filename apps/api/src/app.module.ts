import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { AuditModule } from '@app/audit';
import { AppConfig, ConfigModule } from '@app/config';
import { DatabaseModule } from '@app/database';
import { FhirModule } from '@app/fhir';
import { FileStorageModule } from '@app/file-storage';
import { ScanningModule } from '@app/scanning';
import { TenancyModule } from '@app/tenancy';
import { AccessAudit } from './audit/access-audit.js';
import { AuditEventController } from './audit/audit-event.controller.js';
import { AuditInterceptor } from './audit/audit.interceptor.js';
import { FilesController } from './files/files.controller.js';
import { WhoAmIController } from './auth/whoami.controller.js';
import { FhirAttachmentsController } from './fhir/fhir-attachments.controller.js';
import { FhirBinaryController } from './fhir/fhir-binary.controller.js';
import { FhirController } from './fhir/fhir.controller.js';
import { SignedFilesController } from './files/signed-files.controller.js';
import { UploadInterceptor } from './files/upload.interceptor.js';
import { HealthController } from './health/health.controller.js';
import { GlobalExceptionFilter } from './http/exception.filter.js';
import { GracefulShutdown } from './http/graceful-shutdown.js';
import { RootController } from './http/root.controller.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config.log),
        DatabaseModule.forRoot(config),
        TenancyModule,
        FileStorageModule,
        ScanningModule,
        FhirModule,
        AuditModule,
        TerminusModule.forRoot({ logger: false }),
        MetricsModule,
      ],
      // AuditEventController and FhirBinaryController before FhirController: their fixed paths must win over `fhir/:type`.
      controllers: [
        RootController,
        FilesController,
        SignedFilesController,
        AuditEventController,
        FhirBinaryController,
        FhirController,
        FhirAttachmentsController,
        HealthController,
        WhoAmIController,
      ],
      providers: [
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
        { provide: APP_INTERCEPTOR, useClass: AuditInterceptor },
        AccessAudit,
        UploadInterceptor,
        GracefulShutdown,
      ],
    };
  }
}
