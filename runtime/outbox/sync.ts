// Durability off the main thread. The store commits with synchronous=NORMAL (COMMIT writes the
// WAL into the page cache, no fsync) and then asks libuv's thread pool to fdatasync the -wal
// file; the appends of a commit resolve only once an fdatasync that started after that commit
// has finished. Same guarantee as synchronous=FULL, without a stall of the event loop.
import { closeSync, fdatasync, openSync } from 'node:fs';

type Done = (err?: Error) => void;

export class WalSync {
  private fd: number | undefined;
  private waiting: Done[] = [];
  private running = false;
  /** When the running fdatasync started (performance.now). */
  private startedAt = 0;
  private idle: (() => void)[] = [];
  private readonly walPath: string;

  constructor(dbPath: string) {
    this.walPath = `${dbPath}-wal`;
  }

  /** Call right after a COMMIT: `done` runs once the commit is on stable storage (or the sync failed). */
  afterCommit(done: Done): void {
    this.waiting.push(done);
    if (!this.running) this.start();
  }

  /** Resolves when no sync is running or waiting (close). */
  settled(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  /** How long the running fdatasync has taken so far; 0 when none runs (the watchdog's wedge check). */
  busyMs(): number {
    return this.running ? performance.now() - this.startedAt : 0;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    this.startedAt = performance.now();
    let fd: number;
    try {
      // The WAL exists after the first commit and keeps its inode while the database is open
      // (a checkpoint truncates or rewrites it, never replaces it).
      fd = this.fd ??= openSync(this.walPath, 'r');
    } catch (err) {
      return this.finish(batch, err as Error);
    }
    fdatasync(fd, (err) => this.finish(batch, err ?? undefined));
  }

  private finish(batch: Done[], err?: Error): void {
    this.running = false;
    const e = err && new Error(`outbox ${this.walPath}: fdatasync failed: ${err.message}`, { cause: err });
    for (const d of batch) d(e);
    if (this.waiting.length > 0) this.start();
    else for (const r of this.idle.splice(0)) r();
  }
}
