import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { AppConfig } from '@app/config';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

export function createLogger(log: AppConfig['log']): ConsoleLogger {
  return new ConsoleLogger({
    json: log.format === 'json',
    colors: log.format === 'text' && process.stdout.isTTY === true,
    logLevels: LEVELS.slice(0, LEVELS.indexOf(log.level) + 1),
  });
}
