import { createWriteStream, type WriteStream } from 'node:fs';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '@app/config';

/**
 * AUDIT_LOG: the audit events as one JSON line each, for a SIEM to collect,
 * apart from the service's own log: `stderr`, or a file that is appended to.
 * Off when unset.
 */
@Injectable()
export class AuditLogStream implements OnApplicationShutdown {
  private readonly out?: NodeJS.WritableStream;

  constructor(config: AppConfig) {
    const target = config.audit.log;
    if (target === 'stderr') this.out = process.stderr;
    else if (target) this.out = createWriteStream(target, { flags: 'a', mode: 0o600 });
  }

  write(event: object): void {
    this.out?.write(`${JSON.stringify(event)}\n`);
  }

  onApplicationShutdown(): Promise<void> | void {
    const file = this.out as WriteStream | undefined;
    if (file && file !== (process.stderr as unknown)) return new Promise((resolve) => file.end(resolve));
  }
}
