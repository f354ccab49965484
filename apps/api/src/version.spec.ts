import { readFileSync } from 'node:fs';
import { SERVICE_VERSION } from './version.js';

describe('SERVICE_VERSION', () => {
  it('is the version package.json gives', () => {
    expect(SERVICE_VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });
});
