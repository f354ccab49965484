import { styleText } from 'node:util';
import type { DestinationStream } from 'pino';

const LABEL: Record<string, string> = { trace: 'VERBOSE', debug: 'DEBUG', info: 'LOG', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };
const COLOR: Record<string, Parameters<typeof styleText>[0]> = { trace: 'cyan', debug: 'magenta', info: 'green', warn: 'yellow', error: 'red', fatal: 'red' };
/** Values that need no quotes to be read back: no spaces, quotes or `=`. */
const BARE = /^[\w.:/@+-]+$/;

interface Line {
  level: string;
  time: string;
  msg?: string;
  context?: string;
  stack?: string;
  [field: string]: unknown;
}

/**
 * LOG_FORMAT=text: pino's JSON lines turned into one line per event for a
 * person at a terminal, `time LEVEL [context] message field=value…`, a stack
 * (when there is one) on the lines below. Written synchronously, as the JSON
 * destination is; colours only on a terminal (and never with NO_COLOR).
 *
 * A few lines of our own rather than pino-pretty: it needs no worker thread or
 * extra packages, and reads no `.pino-prettyrc` from the working directory.
 */
export class TextLogStream implements DestinationStream {
  constructor(private readonly out: NodeJS.WritableStream) {}

  write(json: string): void {
    const { level, time, msg = '', context, stack, ...fields } = JSON.parse(json) as Line;
    const label = styleText(COLOR[level] ?? 'reset', (LABEL[level] ?? level).padEnd(7), { stream: this.out });
    const where = context ? `[${context}] ` : '';
    const extra = Object.entries(fields).map(([key, value]) => ` ${key}=${text(value)}`).join('');
    this.out.write(`${time} ${label} ${where}${msg}${extra}\n${stack ? `${stack}\n` : ''}`);
  }
}

function text(value: unknown): string {
  return typeof value === 'string' && BARE.test(value) ? value : JSON.stringify(value);
}
