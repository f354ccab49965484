import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { tempDir } from './environment.js';

export interface SmallDisk {
  /** The mount point: a file system of its own, so filling it fills nothing else. */
  dir: string;
  remove(): Promise<void>;
}

/**
 * A tmpfs of `bytes` mounted on a temp dir: a disk that really fills up
 * (ENOSPC from the kernel), for the full-disk tests. Needs root, as the test
 * command does anyway; fails loudly without it rather than skip the test.
 */
export async function smallDisk(bytes: number): Promise<SmallDisk> {
  const dir = tempDir('small-disk-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remove: async () => {
      execFileSync('umount', ['-l', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
