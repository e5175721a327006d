// A real small filesystem for full-disk tests: a tmpfs of a given size, mounted by the test
// (root only, as in CI), and a filler file that takes every free byte.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallFs {
  dir: string;
  /** Write a file until the filesystem refuses (ENOSPC); returns its size. */
  fill(): number;
  /** Remove the filler: the space comes back. */
  unfill(): void;
  cleanup(): void;
}

/** Why small filesystems cannot be mounted here, or undefined when they can. */
export function smallFsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (CI runs as root)';
  try {
    const fs = mountSmallFs(1 << 20);
    fs.cleanup();
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
}

export function mountSmallFs(bytes: number): SmallFs {
  const dir = mkdtempSync(join(tmpdir(), 'wayside-smallfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  const filler = join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      const chunk = Buffer.alloc(64 << 10, 1);
      let n = 0;
      try {
        // Big chunks, then single blocks: take every byte the filesystem has.
        for (const size of [64 << 10, 4096]) {
          try {
            for (;;) n += writeSync(fd, chunk, 0, size);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          }
        }
      } finally {
        closeSync(fd);
      }
      return n;
    },
    unfill() {
      unlinkSync(filler);
    },
    cleanup() {
      try { execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); } catch { /* not mounted */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
