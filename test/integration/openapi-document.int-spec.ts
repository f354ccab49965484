import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ATTACHMENT_RESOURCE_TYPES, RESOURCE_TYPES, SUPPORTED_RESOURCE_TYPES } from '@app/fhir';
import { previewApiDocument } from '../../apps/api/src/openapi/preview-document.js';
import { FHIR_TYPES, PRODUCT_ATTACHMENT_FIELD } from '../support/fhir.js';

/**
 * openapi.json, checked in so that reviewers see API changes in diffs, is
 * what the code builds; Redocly and Spectral find no error in it; and the
 * type→field table it and the README give is the product's.
 */
const run = promisify(execFile);

/** Redocly warnings kept on purpose (listed in the README): the public probes take no input, so they have no 4xx. */
const KEPT_WARNINGS = [
  'operation-4xx-response #/paths/~1fhir~1metadata/get/responses',
  'operation-4xx-response #/paths/~1health~1live/get/responses',
  'operation-4xx-response #/paths/~1health~1ready/get/responses',
];

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const checkedIn = () => readFileSync('openapi.json', 'utf8');

describe('openapi.json', () => {
  it('is the document the code builds (run `npm run openapi` after an API change)', async () => {
    expect(await previewApiDocument()).toBe(checkedIn());
  });

  it('passes Redocly lint with no error, and only the warnings the README lists', async () => {
    const { stdout } = await run('node_modules/.bin/redocly', ['lint', 'openapi.json', '--format=json'], { maxBuffer: 16 << 20 }).catch(
      (e: { stdout: string }) => e,
    );
    const problems = (JSON.parse(stdout) as { problems: Array<{ ruleId: string; severity: string; location: Array<{ pointer: string }> }> }).problems;
    expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(problems.map((p) => `${p.ruleId} ${p.location[0]!.pointer}`).sort()).toEqual(KEPT_WARNINGS);
    const readme = readFileSync('README.md', 'utf8');
    for (const warning of KEPT_WARNINGS) expect(readme).toContain(warning.split(' ')[0]);
  }, 60_000);

  it('passes Spectral (oas ruleset) with no error and no warning', async () => {
    const { stdout } = await run('node_modules/.bin/spectral', ['lint', 'openapi.json', '--format=json', '--quiet'], { maxBuffer: 16 << 20 }).catch(
      (e: { stdout: string }) => e,
    );
    expect(JSON.parse(stdout || '[]')).toEqual([]);
  }, 60_000);

  it("declares each type's attachment field as the product does, from RESOURCE_TYPES, as the README's table does", () => {
    const doc = JSON.parse(checkedIn()) as Json;
    expect([...ATTACHMENT_RESOURCE_TYPES].sort()).toEqual([...FHIR_TYPES].sort());
    // The types without attachments have no files routes at all.
    for (const type of SUPPORTED_RESOURCE_TYPES.filter((t) => !(ATTACHMENT_RESOURCE_TYPES as readonly string[]).includes(t))) {
      expect(Object.keys(doc.paths).filter((p) => p.startsWith(`/fhir/${type}/{id}/files`))).toEqual([]);
      expect(doc.paths[`/fhir/${type}/{id}`].get).toBeDefined();
    }
    const readme = readFileSync('README.md', 'utf8');
    for (const type of FHIR_TYPES) {
      const field = PRODUCT_ATTACHMENT_FIELD[type];
      expect(RESOURCE_TYPES[type].attachmentField).toBe(field);
      expect(doc.paths[`/fhir/${type}/{id}/files/${field}`].get.responses['307']).toBeDefined();
      expect(readme).toContain(`| ${type} | \`${field}\` |`);
    }
    const attachmentPaths = Object.keys(doc.paths).filter((p) => /\/files\/[A-Za-z]+$/.test(p) && p.startsWith('/fhir/'));
    expect(attachmentPaths).toHaveLength(FHIR_TYPES.length);
  });

  it('needs no token only where the service needs none', () => {
    const doc = JSON.parse(checkedIn()) as Json;
    expect(doc.security).toEqual([{ bearer: [] }]);
    const open = Object.entries(doc.paths as Json).flatMap(([path, item]) =>
      Object.entries(item as Json)
        .filter(([, op]) => (op as Json).security?.length === 0)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(open.sort()).toEqual(['GET /fhir/metadata', 'GET /health/live', 'GET /health/ready']);
  });
});
