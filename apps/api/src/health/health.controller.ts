import { Controller, Get, Logger, ServiceUnavailableException, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiServiceUnavailableResponse, ApiTags, type ApiPropertyOptions } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { FileStorage } from '@app/file-storage';
import { VirusScanner } from '@app/scanning';
import { Public } from '@app/tenancy';
import { GracefulShutdown } from '../http/graceful-shutdown.js';
import { ApiPublic } from '../openapi/api-document.js';

/** A probe must answer well within the kubelet's timeout, whatever a dependency does. */
const CHECK_TIMEOUT_MS = 3000;

function bounded<T>(check: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([check, timeout]).finally(() => clearTimeout(timer));
}

const DEPENDENCIES: ApiPropertyOptions = {
  type: 'object',
  description: 'Per dependency (database, storage, scanner): {status: up|down}',
  additionalProperties: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['up', 'down'] } } },
};

/** What a probe answers (terminus' report); the public body names no host, user or path. */
class HealthReport {
  @ApiProperty({ enum: ['ok', 'error', 'shutting_down'] })
  status!: string;

  @ApiPropertyOptional(DEPENDENCIES)
  info?: object;

  @ApiPropertyOptional(DEPENDENCIES)
  error?: object;

  @ApiProperty(DEPENDENCIES)
  details!: object;
}

/** terminus documents itself only where it can require() @nestjs/swagger (not under Jest), so the document declares it here. */
const NO_TERMINUS_DOCS = { noCache: true, swaggerDocumentation: false };

@ApiTags('health')
@Public()
@ApiPublic()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly health: HealthCheckService,
    private readonly dataSource: DataSource,
    private readonly indicators: HealthIndicatorService,
    private readonly files: FileStorage,
    private readonly scanner: VirusScanner,
    private readonly shutdown: GracefulShutdown,
  ) {}

  @Get('live')
  @HealthCheck(NO_TERMINUS_DOCS)
  @ApiOkResponse({ type: HealthReport, description: 'Up' })
  @ApiOperation({ operationId: 'liveness', summary: 'The process is up (Kubernetes liveness probe)', description: 'Checks nothing outside the process: a dependency down must not get replicas restarted.' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck(NO_TERMINUS_DOCS)
  @ApiOkResponse({ type: HealthReport, description: 'Ready: every dependency answered' })
  @ApiServiceUnavailableResponse({ type: HealthReport, description: 'Not ready: a dependency is down, or the process is shutting down' })
  @ApiOperation({
    operationId: 'readiness',
    summary: 'Database, object store and (when on) clamd reachable (Kubernetes readiness probe)',
    description: 'Answers 503 while a dependency is down or the process is shutting down; names the dependency, never its address.',
  })
  async ready(@Res({ passthrough: true }) res: Response): Promise<HealthCheckResult> {
    if (this.shutdown.draining) {
      // Stopping: the load balancer must send its requests elsewhere, whatever the dependencies say.
      res.status(503);
      return { status: 'shutting_down', details: {} } as unknown as HealthCheckResult;
    }
    try {
      return await this.health.check([
        () => this.database(),
        () => this.storage(),
        () => this.scanning(),
      ]);
    } catch (e) {
      // Keep terminus' per-dependency report in the 503 body; it names no secrets.
      if (!(e instanceof ServiceUnavailableException)) throw e;
      res.status(503);
      return e.getResponse() as HealthCheckResult;
    }
  }

  /**
   * One round trip to Postgres. (terminus' TypeOrmHealthIndicator would do the
   * same, but probes for @nestjs/typeorm with a CommonJS require of an ES module.)
   */
  private async database() {
    const indicator = this.indicators.check('database');
    const started = Date.now();
    try {
      await bounded(this.dataSource.query('SELECT 1'));
      return indicator.up({ responseTime: Date.now() - started });
    } catch (e) {
      return this.down(indicator, 'database', e);
    }
  }

  private async storage() {
    const indicator = this.indicators.check('storage');
    try {
      await bounded(this.files.checkReadiness());
      return indicator.up();
    } catch (e) {
      return this.down(indicator, 'storage', e);
    }
  }

  /** clamd PING when scanning is on; uploads would fail closed without it. */
  private async scanning() {
    const indicator = this.indicators.check('scanner');
    if (!this.scanner.enabled) return indicator.up({ scanning: 'off' });
    try {
      await bounded(this.scanner.check());
      return indicator.up();
    } catch (e) {
      return this.down(indicator, 'scanner', e);
    }
  }

  /** The probe is public: details (hosts, users, paths) go to the log only. */
  private down(indicator: ReturnType<HealthIndicatorService['check']>, name: string, e: unknown) {
    this.logger.warn(`Readiness: ${name} is down: ${(e as Error).message}`);
    return indicator.down();
  }
}
