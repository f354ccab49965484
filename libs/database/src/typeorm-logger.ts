import { Logger as NestLogger } from '@nestjs/common';
import type { Logger, QueryRunner } from 'typeorm';

/**
 * TypeORM's messages through the service's logger, without query
 * parameters: they hold what the service stores (FHIR resources, file
 * names), and logs must never carry patient data. A failed query is logged
 * by its error and its SQL text, which is all placeholders.
 */
export class TypeOrmLogger implements Logger {
  private readonly logger = new NestLogger('Database');

  logQuery(): void {
    // Every query would flood the log; failures and slow queries are logged below.
  }

  logQueryError(error: string | Error, query: string): void {
    this.logger.warn(`Query failed (${error instanceof Error ? error.message : error}): ${query.slice(0, 200)}`);
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`Slow query (${time} ms): ${query.slice(0, 200)}`);
  }

  logSchemaBuild(): void {}

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown, _queryRunner?: QueryRunner): void {
    if (level === 'warn') this.logger.warn(String(message));
  }
}
