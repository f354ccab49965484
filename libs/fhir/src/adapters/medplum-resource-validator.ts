import { getDataType, indexStructureDefinitionBundle, validateResource, type InternalTypeSchema } from '@medplum/core';
import type { CodeSystem, CodeSystemConcept, OperationOutcomeIssue, StructureDefinition, ValueSet, ValueSetCompose } from '@medplum/fhirtypes';
import { MAX_JSON_DEPTH } from '@app/common';
import type { ResourceIssue } from '../domain/errors.js';
import { SUPPORTED_RESOURCE_TYPES, type FhirJson } from '../domain/resource-types.js';
import { ResourceValidator } from '../ports/resource-validator.port.js';
import { eachDefinition } from './definition-bundles.js';

const STRUCTURE_DEFINITION = 'http://hl7.org/fhir/StructureDefinition/';

let indexed = false;

/**
 * Medplum keeps the StructureDefinitions in one registry per process; index
 * the R4 data types and only the resource types this server serves.
 */
function indexDefinitions(): void {
  if (indexed) return;
  const types: StructureDefinition[] = [];
  eachDefinition<StructureDefinition>('fhir/r4/profiles-types.json', (d) => types.push(d));
  indexStructureDefinitionBundle(types);
  const wanted = new Set<string>([...SUPPORTED_RESOURCE_TYPES, 'Resource', 'DomainResource'].map((t) => `${STRUCTURE_DEFINITION}${t}`));
  const resources: StructureDefinition[] = [];
  eachDefinition<StructureDefinition>('fhir/r4/profiles-resources.json', (d) => resources.push(d), (url) => wanted.has(url));
  indexStructureDefinitionBundle(resources);
  indexed = true;
}

function codesOf(concepts: CodeSystemConcept[] | undefined, into: Set<string>): Set<string> {
  for (const c of concepts ?? []) {
    into.add(c.code);
    codesOf(c.concept, into);
  }
  return into;
}

/**
 * The codes of every R4 value set that is a plain list: whole code systems
 * or enumerated codes. Value sets defined by filters or by external systems
 * (MIME types, languages) cannot be enumerated and are not checked.
 */
function enumerableValueSets(): Map<string, Set<string>> {
  // One pass keeps only what the check needs: the codes of each code system, the composition of each value set.
  const systems = new Map<string, Set<string>>();
  const compositions = new Map<string, ValueSetCompose>();
  eachDefinition<CodeSystem | ValueSet>('fhir/r4/valuesets.json', (resource) => {
    if (resource.resourceType === 'CodeSystem' && resource.url && resource.content === 'complete') {
      systems.set(resource.url, codesOf(resource.concept, new Set()));
    } else if (resource.resourceType === 'ValueSet' && resource.url && resource.compose && !resource.compose.exclude) {
      compositions.set(resource.url, resource.compose);
    }
  });
  const valueSets = new Map<string, Set<string>>();
  for (const [url, compose] of compositions) {
    const codes = new Set<string>();
    const enumerable = compose.include.every((include) => {
      if (include.valueSet || include.filter || !include.system) return false;
      const included = include.concept?.map((c) => c.code) ?? systems.get(include.system);
      if (!included) return false;
      for (const c of included) codes.add(c);
      return true;
    });
    if (enumerable) valueSets.set(url, codes);
  }
  return valueSets;
}

const PRIMITIVE = /^[a-z]/;

/**
 * Validation by Medplum's FHIR R4 validator (structure, cardinality, types,
 * formats, invariants), plus the one check it leaves out: codes of elements
 * with a *required* binding (`status`, `gender`, ...) must come from their
 * value set.
 */
export class MedplumResourceValidator extends ResourceValidator {
  private readonly valueSets: Map<string, Set<string>>;

  constructor() {
    super();
    indexDefinitions();
    this.valueSets = enumerableValueSets();
  }

  validate(resource: FhirJson): ResourceIssue[] {
    const issues: ResourceIssue[] = [];
    try {
      validateResource(resource as never);
    } catch (e) {
      const outcome = (e as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
      if (!outcome?.issue) throw e;
      issues.push(...outcome.issue.map((i) => ({ message: i.details?.text ?? i.diagnostics ?? 'Invalid', expression: i.expression?.[0] })));
    }
    this.checkBindings(resource.resourceType, resource, resource.resourceType, issues, 0);
    return issues;
  }

  private checkBindings(typeName: string, value: Record<string, unknown>, path: string, issues: ResourceIssue[], depth: number): void {
    if (depth > MAX_JSON_DEPTH) {
      issues.push({ message: `Nested more than ${MAX_JSON_DEPTH} levels deep`, expression: path });
      return;
    }
    let schema: InternalTypeSchema;
    try {
      schema = getDataType(typeName);
    } catch {
      return; // Unknown types are the structural validator's to report.
    }
    for (const [key, element] of Object.entries(schema.elements)) {
      const choices = key.endsWith('[x]')
        ? element.type.map((t) => ({ name: key.slice(0, -3) + t.code[0]!.toUpperCase() + t.code.slice(1), code: t.code }))
        : element.type.map((t) => ({ name: key, code: t.code }));
      for (const { name, code } of choices) {
        const present = Object.hasOwn(value, name) ? value[name] : undefined;
        if (present === undefined) continue;
        const items = Array.isArray(present) ? present : [present];
        items.forEach((item, i) => {
          const where = `${path}.${name}${Array.isArray(present) ? `[${i}]` : ''}`;
          if (code === 'code' && typeof item === 'string' && element.binding?.strength === 'required') {
            const codes = this.valueSets.get(element.binding.valueSet?.split('|')[0] ?? '');
            if (codes && !codes.has(item)) {
              issues.push({ message: `'${item}' is not a code of ${element.binding.valueSet?.split('|')[0]}`, expression: where });
            }
          } else if (typeof item === 'object' && item !== null && !PRIMITIVE.test(code)) {
            const record = item as Record<string, unknown>;
            const inner = code === 'Resource' && typeof record.resourceType === 'string' ? record.resourceType : code;
            this.checkBindings(inner, record, where, issues, depth + 1);
          }
        });
      }
    }
  }
}
