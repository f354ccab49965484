import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '@app/config';
import { signDevelopmentToken } from '@app/tenancy';

const USAGE = 'usage: npm run token -- --org <organization id> [--sub <subject>] [--scope <scopes, e.g. audit/AuditEvent.read>] [--ttl <seconds, default 3600>]';

/** Prints a bearer token the service (with the same environment) accepts. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { org: { type: 'string' }, sub: { type: 'string' }, scope: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
  });
  const ttlSeconds = Number(values.ttl);
  if (!values.org || !Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const token = await signDevelopmentToken(loadConfig(process.env), {
    organizationId: values.org,
    subject: values.sub,
    scope: values.scope,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof ConfigError ? e.message : (e as Error).message}\n`);
  process.exit(1);
});
