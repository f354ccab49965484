import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const MODULE = join(process.cwd(), 'apps/api/src/young-buffer-collection.ts');

/**
 * A fresh Node that allocates 96 MiB as 64 KiB ArrayBuffers, each garbage at once, yielding to the
 * event loop every 16 as socket reads do; it counts the collections V8 answers them with.
 */
const ALLOCATE = `
const { PerformanceObserver, constants } = await import('node:perf_hooks');
const gcs = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const { detail } of list.getEntries()) {
    if (detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
    if (detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
  }
}).observe({ entryTypes: ['gc'] });
const applied = process.env.APPLY ? (await import(process.env.APPLY)).collectYoungBuffersEarly() : null;
for (let i = 0; i < 1536; i++) {
  new ArrayBuffer(64 * 1024);
  if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
}
await new Promise((resolve) => setTimeout(resolve, 100));
process.stdout.write(JSON.stringify({ applied, ...gcs }));
`;

async function allocate(options: { apply: boolean; nodeArgs?: string[] }): Promise<{ applied: string[] | null; minor: number; major: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, [...(options.nodeArgs ?? []), '--input-type=module', '-e', ALLOCATE], {
    env: { PATH: process.env.PATH, ...(options.apply ? { APPLY: MODULE } : {}) },
    timeout: 20_000,
  });
  return JSON.parse(stdout) as { applied: string[] | null; minor: number; major: number };
}

/** The flags before the entry point, in the image's CMD and in `npm start`. */
function commandLineFlags(): { image: string[]; npmStart: string[] } {
  const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(join(process.cwd(), 'docker/Dockerfile'), 'utf8'))?.[1];
  const start = (JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const flags = (args: string[]) => args.filter((arg) => arg.startsWith('--'));
  return { image: flags(JSON.parse(cmd ?? '[]') as string[]), npmStart: flags(start.split(/\s+/)) };
}

describe('--no-separate-gc-phases, on the command line', () => {
  it('is given to node by the image and by npm start alike', () => {
    const { image, npmStart } = commandLineFlags();
    expect(image).toContain('--no-separate-gc-phases');
    expect(npmStart).toEqual(image);
  });
});

describe('collectYoungBuffersEarly', () => {
  // Where the module applies, the child runs with the flags the service runs with (npm start's, the image's):
  // without --no-separate-gc-phases, a scavenge that a loaded CI machine's background sweeper let fall behind
  // turned into two mark-compacts once (CI of 91a5a41), which no local run of the same child reproduced.
  const SERVICE_FLAGS = commandLineFlags().npmStart;

  it("leaves V8's default alone in this control: 96 MiB of short-lived buffers cost a mark-compact of the whole heap", async () => {
    const gcs = await allocate({ apply: false });
    expect(gcs.major).toBeGreaterThanOrEqual(1);
    expect(gcs.minor).toBe(0);
  });

  it('has the same buffers freed by scavenges, one per 32 MiB, and no mark-compact', async () => {
    const gcs = await allocate({ apply: true, nodeArgs: SERVICE_FLAGS });
    expect(gcs.applied).toEqual(['--scavenger-max-new-space-capacity-mb=8', '--heap-growing-percent=100']);
    expect(gcs.major).toBe(0);
    expect(gcs.minor).toBeGreaterThanOrEqual(2);
    expect(gcs.minor).toBeLessThanOrEqual(4);
  });

  it.each([['--scavenger-max-new-space-capacity-mb=2'], ['--scavenger_max_new_space_capacity_mb=2']])(
    "keeps an operator's %s: a scavenge per 8 MiB, not per 32",
    async (flag) => {
      const gcs = await allocate({ apply: true, nodeArgs: [...SERVICE_FLAGS, flag] });
      expect(gcs.applied).toEqual(['--heap-growing-percent=100']);
      expect(gcs.minor).toBeGreaterThanOrEqual(8);
    },
  );

  // What the growing factor does to the heap's limit shows in a long-running service after a pause (bench/README.md, P6).
  it.each([['--heap-growing-percent=50'], ['--heap_growing_percent=50']])("keeps an operator's %s and still sets the other flag", async (flag) => {
    const gcs = await allocate({ apply: true, nodeArgs: [...SERVICE_FLAGS, flag] });
    expect(gcs.applied).toEqual(['--scavenger-max-new-space-capacity-mb=8']);
    expect(gcs.major).toBe(0);
    expect(gcs.minor).toBeGreaterThanOrEqual(2);
  });
});
