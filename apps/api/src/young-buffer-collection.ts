import { setFlagsFromString } from 'node:v8';

/**
 * The V8 flags this process sets at start-up, so that the buffers files stream through in are
 * freed by scavenges and do not cost mark-compacts of the whole heap.
 *
 * Files stream through this service in socket reads, each a new ArrayBuffer of up to 64 KiB
 * outside the JS heap, garbage microseconds later.
 *
 * `--scavenger-max-new-space-capacity-mb=8`. Before it allocates a backing store, V8 frees the young
 * ones with a scavenge once they total `2 * DefaultMaxSemiSpaceSize()`
 * (`Heap::AllocateExternalBackingStore`), which it computes from this flag at every call: 2 × 32 × 2 MiB
 * = 128 MiB by default on Node's build (no pointer compression). Its other trigger for external
 * memory, 64 MiB above the last mark-compact, comes first and starts a mark-compact of the whole heap
 * (~48 MB here). A 50 MB S3 download got ~3.5 of them (31 ms); with 8 (a 32 MiB threshold) it gets
 * scavenges of 0.4-1 ms instead. Set at run time, the flag moves only that threshold: the new space's
 * size was fixed when the heap was set up, before this module ran.
 *
 * `--heap-growing-percent=100`. V8 starts marking the whole heap as soon as the old generation's
 * room below its limit is no more than the new space's capacity, since one scavenge could promote
 * that much (`Heap::IncrementalMarkingLimitReached`). It sets the limit at each mark-compact from
 * how fast the program allocated: after a pause in traffic (and in some fresh processes) the limit
 * is the live heap + 16 MB, less than the new space, so marking started after nearly every
 * scavenge and each 50 MB download got ~0.3-2.7 mark-compacts again (`--trace-incremental-marking`:
 * `Start (allocation limit)` with 16 MB of room). A fixed growing factor of 2 keeps the room at the
 * size of the live heap (~48 MB here); after the same pause the downloads got 0-0.03. The price is
 * an old generation that may grow to twice the live heap before it is collected. V8 reads it at
 * every mark-compact.
 *
 * An operator who passes either flag to node keeps their value of it.
 *
 * A third flag is given on node's command line instead (docker/Dockerfile, `npm start`):
 * `--no-separate-gc-phases`. While V8 marks the whole heap it skips the scavenge above
 * (`Heap::AllocateExternalBackingStore` asks for `!separate_gc_phases || !IsMajorMarking()`), so every
 * buffer read until the marking ends stays allocated; on two cores busy with 16 uploads a marking can
 * last a second (bench P2 on fs: `arrayBuffers` from 21 to 93 MB without a scavenge). With the flag
 * the scavenges go on during marking, as in Node 20 and 22, whose V8 had it off by default. It is not
 * set here: switched at run time while V8 collected, it crashed Node 24 (a SIGSEGV in the
 * mark-compact's evacuation in about half of 22 two-second runs that switched it back and forth).
 */
const FLAGS: ReadonlyArray<readonly [name: string, value: number]> = [
  ['--scavenger-max-new-space-capacity-mb', 8],
  ['--heap-growing-percent', 100],
];

/** Sets the flags the operator did not pass to node; answers the ones it set. */
export function collectYoungBuffersEarly(execArgv: readonly string[] = process.execArgv): string[] {
  // V8 takes its flags with `-` or `_` between the words.
  const passed = new Set(execArgv.map((arg) => arg.replace(/_/g, '-').split('=')[0]));
  const applied = FLAGS.filter(([name]) => !passed.has(name)).map(([name, value]) => `${name}=${value}`);
  for (const flag of applied) setFlagsFromString(flag);
  return applied;
}
