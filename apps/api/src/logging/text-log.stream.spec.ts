import { PassThrough } from 'node:stream';
import { TextLogStream } from './text-log.stream.js';

function format(line: object): string {
  const out = new PassThrough();
  new TextLogStream(out).write(`${JSON.stringify(line)}\n`);
  return String(out.read());
}

describe('TextLogStream', () => {
  const time = '2026-11-03T10:00:00.123Z';

  it('writes one line per event: time, Nest level name, context, message, then the fields', () => {
    expect(format({ level: 'info', time, context: 'FileStorage', msg: 'Stored a/b.pdf', requestId: 'r-1', organizationId: 'org-1', status: 201 })).toBe(
      `${time} LOG     [FileStorage] Stored a/b.pdf requestId=r-1 organizationId=org-1 status=201\n`,
    );
  });

  it('quotes field values a reader could not split on spaces', () => {
    expect(format({ level: 'warn', time, msg: 'm', subject: 'Dr. Who', aborted: true, empty: '' })).toBe(
      `${time} WARN    m subject="Dr. Who" aborted=true empty=""\n`,
    );
  });

  it('puts a stack on the lines below its event', () => {
    const stack = 'Error: boom\n    at f (x.js:1:1)';
    expect(format({ level: 'error', time, context: 'Errors', msg: 'Unhandled Error', stack })).toBe(`${time} ERROR   [Errors] Unhandled Error\n${stack}\n`);
  });
});
