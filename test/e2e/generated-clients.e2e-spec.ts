import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { newOrganizationId } from '../support/environment.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * A new user's day one: generate a client from the served OpenAPI document
 * with the generators integration teams use, and do the whole flow with it,
 * type-checked with strict and without a cast, against the real app.
 */
const run = promisify(execFile);
const PYTHON = process.env.TEST_PYTHON ?? 'python3';
const FLOWS = 'test/clients';
/** Lab reports are megabytes; the flows upload this twice each. */
const PDF_BYTES = 8 * 1024 * 1024;

const bin = (name: string) => join('node_modules', '.bin', name);

let t: TestApp;
let work: string;
let token: string;

beforeAll(async () => {
  t = await startTestApp();
  token = await t.tokenFor(newOrganizationId(), { sub: 'integration-engineer' });
  mkdirSync('.test-results', { recursive: true });
  work = mkdtempSync(join('.test-results', 'clients-'));
  cpSync(FLOWS, work, { recursive: true, filter: (source) => !source.endsWith('.py') });
  const served = await fetch(`${t.baseUrl}/openapi.json`);
  writeFileSync(join(work, 'openapi.json'), await served.text());
}, 60_000);
afterAll(() => t.close());

const flowEnv = () => ({ ...process.env, API_BASE_URL: t.baseUrl, API_TOKEN: token, PDF_BYTES: String(PDF_BYTES) });

/** What every flow must have seen, whichever client did it. */
const EXPECTED_STEPS = {
  upload: 201,
  head: 200,
  download: 200,
  downloadedEqual: true,
  deleteFile: 204,
  create: 201,
  search: 200,
  searchTotal: 1,
  update: 200,
  staleUpdate: 412,
  redirect: 307,
  signed: 200,
  signedEqual: true,
  deleteResource: 204,
  readDeleted: 404,
};

async function runFlow(compiled: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [compiled], { env: flowEnv(), maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** Casts, non-null assertions, `any` and ts-ignore comments: what a flow may not use to get past the types. */
function escapesFromTheTypes(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2023, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    const at = () => `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) found.push(`cast at ${at()}`);
    if (ts.isNonNullExpression(node)) found.push(`non-null assertion at ${at()}`);
    if (node.kind === ts.SyntaxKind.AnyKeyword) found.push(`any at ${at()}`);
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (/@ts-(ignore|expect-error|nocheck)/.test(text)) found.push(`ts directive in ${file}`);
  return found;
}

describe('clients generated from /openapi.json', () => {
  it('the flows get past the types without a cast', () => {
    const flows = ['flow-support.ts', 'openapi-fetch/flow.ts', 'hey-api/flow.ts'].map((f) => join(FLOWS, f));
    expect(flows.flatMap(escapesFromTheTypes)).toEqual([]);
  });

  it('openapi-typescript and @hey-api/openapi-ts generate, and both flows type-check with strict', async () => {
    await run(process.execPath, [join(work, 'openapi-fetch', 'generate.mjs'), join(work, 'openapi.json'), join(work, 'openapi-fetch', 'schema.d.ts')]);
    await run(bin('openapi-ts'), ['-i', join(work, 'openapi.json'), '-o', join(work, 'hey-api', 'generated')]);
    // Compiles flow-support, both flows and the hey-api SDK with the project's strict settings, into out/.
    const tsc = await run(bin('tsc'), ['-p', join(work, 'tsconfig.json')]).catch((e: { stdout: string }) => e);
    expect(tsc.stdout).toBe('');
  }, 120_000);

  it('openapi-typescript + openapi-fetch: upload, HEAD, download, delete, create, search, update with If-Match, 307, follow, delete', async () => {
    expect(await runFlow(join(work, 'out', 'openapi-fetch', 'flow.js'))).toEqual(EXPECTED_STEPS);
  }, 120_000);

  it('@hey-api/openapi-ts: the same flow', async () => {
    expect(await runFlow(join(work, 'out', 'hey-api', 'flow.js'))).toEqual(EXPECTED_STEPS);
  }, 120_000);

  it('orval generates a fetch client, and it type-checks with strict', async () => {
    const target = join(work, 'orval', 'api.ts');
    await run(bin('orval'), ['--input', join(work, 'openapi.json'), '--output', target, '--client', 'fetch']);
    const tsc = await run(bin('tsc'), [
      '--noEmit', '--strict', '--target', 'ES2023', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
      '--lib', 'ES2023,DOM,DOM.Iterable', '--types', 'node', target,
    ]).catch((e: { stdout: string }) => e);
    expect(tsc.stdout).toBe('');
    expect(readFileSync(target, 'utf8')).toMatch(/export const deleteFile = async \(orgId: string,\s*fileName: string/);
  }, 120_000);

  it("Debian's python3-requests: the same flow, as the README's snippets do it", async () => {
    const { stdout } = await run(PYTHON, [join(FLOWS, 'python', 'flow.py')], { env: flowEnv(), maxBuffer: 1 << 20 });
    expect(JSON.parse(stdout)).toEqual({ ...EXPECTED_STEPS, followed: 200, followedEqual: true });
  }, 120_000);
});
