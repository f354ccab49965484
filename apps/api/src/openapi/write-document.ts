import { writeFileSync } from 'node:fs';
import { previewApiDocument } from './preview-document.js';

/** `npm run openapi [file]`: writes the OpenAPI document (openapi.json), for reviewers to see API changes in diffs. */
const target = process.argv[2] ?? 'openapi.json';
writeFileSync(target, await previewApiDocument());
process.stdout.write(`Wrote ${target}\n`);
