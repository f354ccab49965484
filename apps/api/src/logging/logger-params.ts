import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import { NativeLogger, type Params, PinoLogger } from 'nestjs-pino';
import { destination, type DestinationStream, type Level, stdTimeFunctions } from 'pino';
import type { AppConfig } from '@app/config';
import { requestIdOf } from '../http/request-context.js';
import { TextLogStream } from './text-log.stream.js';

type LogConfig = AppConfig['log'];

/** LOG_LEVEL keeps Nest's names; pino calls `log` info and `verbose` trace. */
const PINO_LEVEL: Record<LogConfig['level'], Level> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * nestjs-pino's parameters for the service: one JSON object per line with the
 * level's name and an ISO time, or the same events as text for a terminal.
 * Inside a request every line carries `requestId` (request-context's id, bound
 * by pino-http's request logger, which nestjs-pino keeps in AsyncLocalStorage).
 *
 * pino-http writes no access line here: request-context does, for every
 * request, including those refused by a body parser before Nest's middleware
 * runs. Its default serializers would log headers (the token) and the full
 * URL (signatures, queries); the ones below keep the method and the path.
 */
export function loggerParams(log: LogConfig, stream: DestinationStream = destinationFor(log.format)): Params {
  return {
    pinoHttp: [
      {
        level: PINO_LEVEL[log.level],
        base: null,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        serializers: {
          req: (req: { method?: string; url?: string }) => ({ method: req.method, path: req.url?.split('?')[0] }),
          res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
        },
        genReqId: (req: IncomingMessage) => requestIdOf(req) ?? randomUUID(),
        customAttributeKeys: { reqId: 'requestId' },
        quietReqLogger: true,
        autoLogging: false,
      },
      stream,
    ],
    // `logger.log(message, { fields })` puts the fields beside `msg`, as Nest's ConsoleLogger does in JSON.
    nativeLogger: { structuredParams: true, flattenParams: true },
  };
}

/**
 * The service's logger for NestFactory.create, built before the app so that a
 * failed start is logged in LOG_FORMAT too. nestjs-pino keeps one root pino
 * logger per process, built by whoever asks first: this one, which the
 * LoggerModule of the app then shares.
 */
export function createLogger(log: LogConfig): LoggerService {
  const params = loggerParams(log);
  return new NativeLogger(new PinoLogger(params), params);
}

/** Synchronous writes: the last lines before a crash or process.exit are not lost in a buffer. */
function destinationFor(format: LogConfig['format']): DestinationStream {
  return format === 'json' ? destination({ dest: 1, sync: true }) : new TextLogStream(process.stdout);
}
