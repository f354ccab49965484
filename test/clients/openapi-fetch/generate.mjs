// Generates schema.d.ts with openapi-typescript's Node API, as its documentation
// says to for file uploads: `format: binary` becomes Blob, so a File can be sent.
// usage: node generate.mjs <openapi.json> <schema.d.ts>
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const [document, target] = process.argv.slice(2);
const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier('Blob'));
const ast = await openapiTS(pathToFileURL(document), {
  transform: (schema) => (schema.format === 'binary' ? BLOB : undefined),
});
writeFileSync(target, astToString(ast));
