import { JsonTooDeepError, MAX_JSON_DEPTH } from '@app/common';
import type { ResourceIssue } from './errors.js';
import type { FhirJson } from './resource-types.js';

/**
 * Called for every value of a JSON document with its FHIRPath-like location
 * (`Patient.name[0].given[1]`), the property name it sits under (undefined
 * for an array item and the root) and the object or array holding it.
 * Returning 'skip' leaves the value's children out.
 */
export type JsonVisitor = (value: unknown, path: string, key: string | undefined, parent: object | undefined) => 'skip' | void;

/** Depth-first, in document order, without recursion; JsonTooDeepError past MAX_JSON_DEPTH. */
export function walkJson(root: unknown, rootPath: string, visit: JsonVisitor): void {
  const stack: Array<[value: unknown, path: string, key: string | undefined, parent: object | undefined, depth: number]> = [
    [root, rootPath, undefined, undefined, 1],
  ];
  while (stack.length > 0) {
    const [value, path, key, parent, depth] = stack.pop()!;
    if (visit(value, path, key, parent) === 'skip' || typeof value !== 'object' || value === null) continue;
    if (depth > MAX_JSON_DEPTH) throw new JsonTooDeepError();
    const children: Array<[string, unknown, string | undefined]> = Array.isArray(value)
      ? value.map((v, i) => [`${path}[${i}]`, v, undefined])
      : Object.entries(value).map(([k, v]) => [`${path}.${k}`, v, k]);
    for (let i = children.length - 1; i >= 0; i--) {
      const [childPath, child, childKey] = children[i]!;
      stack.push([child, childPath, childKey, value, depth + 1]);
    }
  }
}

/** Property names that reach an object's prototype in JavaScript: never FHIR elements. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What the FHIR definitions do not catch but a server must refuse: property
 * names that could reach an object's prototype; empty strings, which FHIR
 * forbids ("leave the element out"); and text that is not Unicode (a lone
 * surrogate such as "\ud800" is valid JSON but no character, and no database
 * stores it). Each with where it is.
 */
export function jsonIssues(resource: FhirJson): ResourceIssue[] {
  const issues: ResourceIssue[] = [];
  walkJson(resource, resource.resourceType, (value, path, key) => {
    if (key !== undefined && PROTOTYPE_KEYS.has(key)) {
      issues.push({ message: `'${key}' is not a FHIR element and is never accepted`, expression: path });
      return 'skip';
    }
    if (key !== undefined && !key.isWellFormed()) {
      issues.push({ message: 'A property name holds a lone UTF-16 surrogate, which is not a character', expression: path });
      return 'skip';
    }
    if (value === '') issues.push({ message: 'FHIR does not allow empty strings: leave the element out', expression: path });
    else if (typeof value === 'string' && !value.isWellFormed()) {
      issues.push({ message: 'The text holds a lone UTF-16 surrogate (such as \\ud800), which is not a character', expression: path });
    }
  });
  return issues;
}
