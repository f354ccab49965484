import { Logger } from '@nestjs/common';
import { NativeLogger, PinoLogger } from 'nestjs-pino';
import { loggerParams } from './logger-params.js';

/** nestjs-pino keeps one root logger per process (per test file here), built from the first params it sees. */
const lines: string[] = [];
const params = loggerParams({ level: 'debug', format: 'json' }, { write: (line: string) => void lines.push(line) });
const pino = new PinoLogger(params);
Logger.overrideLogger(new NativeLogger(pino, params));

const logged = () => lines.splice(0).map((line) => JSON.parse(line) as Record<string, unknown>);

describe('loggerParams (json)', () => {
  it('writes a JSON object per line with the level name, an ISO time, the message and the logger name', () => {
    new Logger('FileStorage').log('Stored a/b.pdf');
    expect(lines.every((line) => line.endsWith('}\n') && line.split('\n').length === 2)).toBe(true);
    const [line] = logged();
    expect(line).toEqual({ level: 'info', time: expect.any(String), context: 'FileStorage', msg: 'Stored a/b.pdf' });
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
  });

  it('puts the fields given after the message beside it', () => {
    new Logger('HTTP').log('GET /files 200 1.0ms', { route: '/files', status: 200 });
    expect(logged()).toEqual([expect.objectContaining({ msg: 'GET /files 200 1.0ms', context: 'HTTP', route: '/files', status: 200 })]);
  });

  it('keeps the stack of an error in its own field', () => {
    new Logger('Errors').error('Unhandled Error', 'Error: boom\n    at f (x.js:1:1)');
    expect(logged()).toEqual([expect.objectContaining({ level: 'error', msg: 'Unhandled Error', stack: 'Error: boom\n    at f (x.js:1:1)' })]);
  });

  it('logs from LOG_LEVEL up (debug here) and nothing more verbose', () => {
    const logger = new Logger('Levels');
    logger.verbose('verbose');
    logger.debug('debug');
    logger.warn('warn');
    expect(logged().map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'debug'],
      ['warn', 'warn'],
    ]);
  });

  it('serializes a request as its method and path: no headers, no query string', () => {
    pino.info({ req: { method: 'GET', url: '/signed-files/o/f.pdf?signature=s3cr3t', headers: { authorization: 'Bearer t0k3n', cookie: 'c' } } }, 'm');
    const [line] = logged();
    expect(line!.req).toEqual({ method: 'GET', path: '/signed-files/o/f.pdf' });
    expect(JSON.stringify(line)).not.toMatch(/s3cr3t|t0k3n|cookie/);
  });
});
