import { Controller, Get, Logger, ServiceUnavailableException, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { FileStorage } from '@app/file-storage';
import { VirusScanner } from '@app/scanning';
import { Public } from '@app/tenancy';

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly health: HealthCheckService,
    private readonly dataSource: DataSource,
    private readonly indicators: HealthIndicatorService,
    private readonly files: FileStorage,
    private readonly scanner: VirusScanner,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ operationId: 'liveness', summary: 'The process is up (Kubernetes liveness probe)' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ operationId: 'readiness', summary: 'Database, object store and (when on) clamd reachable (Kubernetes readiness probe)' })
  async ready(@Res({ passthrough: true }) res: Response): Promise<HealthCheckResult> {
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
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 3000 ms')), 3000).unref()),
      ]);
      return indicator.up({ responseTime: Date.now() - started });
    } catch (e) {
      return this.down(indicator, 'database', e);
    }
  }

  private async storage() {
    const indicator = this.indicators.check('storage');
    try {
      await this.files.checkReadiness();
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
      await this.scanner.check();
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
