// Room on the state filesystem. A reserve file beside the database is given back the moment
// the disk is full, so that a checkpoint and the deletes of acked records (both write before
// they free anything) can still run; it is re-made once the filesystem has room again.
import { closeSync, fsyncSync, openSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import type { Log } from '../types.ts';

export type ReserveState = 'held' | 'released' | 'none';

/** Free bytes for an unprivileged writer, undefined when statfs fails. */
export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Total bytes of the filesystem holding dir, undefined when statfs fails. */
export function totalBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.blocks * s.bsize;
  } catch {
    return undefined;
  }
}

export class Reserve {
  state: ReserveState = 'none';
  readonly bytes: number;
  private readonly path: string;
  private readonly log: Log;

  constructor(path: string, bytes: number, log: Log) {
    this.path = path;
    this.bytes = bytes;
    this.log = log;
  }

  /** Make the reserve when there is room for it and twice as much besides. Sync: 0.5 MiB at most. */
  make(free: number | undefined): boolean {
    if (this.state === 'held' || this.bytes <= 0) return false;
    if (free === undefined || free < 3 * this.bytes) return false;
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'w', 0o600);
      // Real blocks (not a sparse file): on tmpfs and ext4 alike the space is taken now.
      const chunk = Buffer.alloc(64 << 10, 0x5a);
      for (let left = this.bytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(left, chunk.length));
      fsyncSync(fd);
      this.state = 'held';
      return true;
    } catch (err) {
      this.log.warn({ err, path: this.path }, 'outbox reserve file could not be made');
      try { unlinkSync(this.path); } catch { /* never made */ }
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Give the space back to the filesystem (disk full). */
  release(): boolean {
    if (this.state !== 'held') return false;
    try {
      unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ err, path: this.path }, 'outbox reserve file could not be removed');
        return false;
      }
    }
    this.state = 'released';
    return true;
  }
}
