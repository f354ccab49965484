// Builds once if dist/ is missing, so `npm run token` works right after `npm ci`.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

if (!existsSync(new URL('../dist/apps/api/src/main.js', import.meta.url))) {
  execSync('npx nest build', { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
