import { setFlagsFromString } from 'node:v8';

/**
 * The value this process gives V8's `--scavenger-max-new-space-capacity-mb` at start-up.
 *
 * Files stream through this service in socket reads, each a new ArrayBuffer of up to 64 KiB
 * outside the JS heap, garbage microseconds later. Before it allocates one, V8 frees the young ones
 * with a scavenge once they total `2 * DefaultMaxSemiSpaceSize()` (`Heap::AllocateExternalBackingStore`),
 * which it computes from this flag at every call: 2 × 32 × 2 MiB = 128 MiB by default on Node's
 * build (no pointer compression). Its other trigger for external memory, 64 MiB above the last
 * mark-compact, comes first and starts a mark-compact of the whole heap (~48 MB here). A 50 MB S3
 * download got ~3.5 of them (31 ms); with 8 (a 32 MiB threshold) it gets scavenges of 0.4-1 ms and
 * no mark-compact (`--trace-gc`) in most processes. Not in all: some fresh ones, and every one after a
 * pause in traffic, get mark-compacts again, with or without V8's memory reducer (bench/README.md, P6).
 *
 * Set at run time, the flag moves only that threshold: the new space's size was fixed when the heap
 * was set up, before this module ran. An operator who passes the flag to node keeps their value.
 */
const YOUNG_BUFFER_SCAVENGE_MIB = 8;

const FLAG = '--scavenger-max-new-space-capacity-mb';

export function collectYoungBuffersEarly(execArgv: readonly string[] = process.execArgv): boolean {
  // V8 takes its flags with `-` or `_` between the words.
  if (execArgv.some((arg) => arg.replace(/_/g, '-').split('=')[0] === FLAG)) return false;
  setFlagsFromString(`${FLAG}=${YOUNG_BUFFER_SCAVENGE_MIB}`);
  return true;
}
