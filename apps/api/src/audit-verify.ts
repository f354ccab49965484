import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuditModule, AuditTrail } from '@app/audit';
import { ConfigError, ConfigModule, loadConfig } from '@app/config';
import { DatabaseModule } from '@app/database';

const USAGE = 'usage: npm run audit:verify -- --org <organization id>';

/**
 * `npm run audit:verify -- --org X`: recomputes organization X's audit chain
 * from its first event with the database's own audit_event_hash(), and
 * reports the first event whose hash, or whose link to the event before it,
 * does not hold. Exits 0 when the chain is intact, 1 when it is broken.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({ options: { org: { type: 'string' } } });
  if (!values.org) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig(process.env);
  @Module({ imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config), AuditModule] })
  class VerifyModule {}
  const app = await NestFactory.createApplicationContext(VerifyModule, { logger: ['error'] });
  try {
    const { events, broken } = await app.get(AuditTrail).verify(values.org);
    if (broken) {
      process.stdout.write(`Audit chain of ${values.org}: BROKEN at event ${broken.id} (seq ${broken.seq}): its ${broken.problem === 'hash' ? 'hash does not match its content' : 'link to the previous event does not hold (an event before it was removed or altered)'}; ${events} events\n`);
      return 1;
    }
    process.stdout.write(`Audit chain of ${values.org}: intact, ${events} events\n`);
    return 0;
  } finally {
    await app.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof ConfigError ? e.message : `Verification failed: ${(e as Error).message}`}\n`);
    process.exit(1);
  },
);
