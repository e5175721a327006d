// The store's housekeeping runs in a worker thread on a second connection, so it never blocks
// the event loop: deleting acked rows (committed without fsync: a lost delete only means a
// duplicate) and checkpoints (copying the WAL back into the database, with their fsyncs).
// Checkpoints are PASSIVE: they never take the write lock; once everything is copied back the
// next write restarts the WAL from its start and journal_size_limit trims the file.
import { Worker } from 'node:worker_threads';
import type { Log } from '../types.ts';

/** Acked rows per delete transaction in the worker: the main connection waits at most that long to write. */
export const WORKER_DELETE_CHUNK = 5000;

// Plain CommonJS so the worker runs the same from the sources and from the build.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path, { timeout: 5000 });
db.exec('PRAGMA synchronous=NORMAL');
const del = db.prepare('DELETE FROM outbox WHERE seq <= ?');
const meta = db.prepare("INSERT INTO meta(key, value) VALUES ('last_seq', ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)");
const checkpoint = () => db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'close') {
      db.close();
      process.exit(0);
    } else if (m.op === 'delete') {
      for (let at = m.from; at < m.upto;) {
        at = Math.min(m.upto, at + ${WORKER_DELETE_CHUNK});
        db.exec('BEGIN IMMEDIATE');
        try { del.run(at); meta.run(m.lastSeq); db.exec('COMMIT'); } catch (err) { if (db.isTransaction) db.exec('ROLLBACK'); throw err; }
      }
      checkpoint();
      parentPort.postMessage({ op: 'delete', ok: true, upto: m.upto });
    } else {
      const r = checkpoint();
      parentPort.postMessage({ op: 'checkpoint', ok: true, busy: r.busy, log: r.log, done: r.checkpointed });
    }
  } catch (err) {
    parentPort.postMessage({ op: m.op, ok: false, upto: m.upto, error: String(err && err.message || err) });
  }
});
`;

interface Reply { op: 'delete' | 'checkpoint'; ok: boolean; upto?: number; error?: string }

export class Checkpointer {
  private worker: Worker | undefined;
  private running = false;
  private deleting: ((ok: boolean) => void) | undefined;
  private waiters: (() => void)[] = [];
  private readonly log: Log;
  private readonly path: string;
  /** Completed checkpoint runs and the last result (tests, benchmarks). */
  runs = 0;
  last: unknown;

  constructor(path: string, log: Log) {
    this.path = path;
    this.log = log;
  }

  /**
   * Start a checkpoint unless one is running; `done` runs when it (or the running one) ended.
   * Returns false when no worker can run: the caller checkpoints itself.
   */
  request(done?: () => void): boolean {
    if (!this.ensure()) return false;
    if (done) this.waiters.push(done);
    if (this.running) return true;
    this.running = true;
    this.post({ op: 'checkpoint' });
    return true;
  }

  /** Delete rows with seq <= upto in the worker; false when no worker can run (the caller deletes). */
  delete(from: number, upto: number, lastSeq: number, done: (ok: boolean) => void): boolean {
    if (this.deleting || !this.ensure()) return false;
    this.deleting = done;
    this.post({ op: 'delete', from, upto, lastSeq });
    return true;
  }

  busyDeleting(): boolean {
    return this.deleting !== undefined;
  }

  /** After the work in hand: the worker closes its connection itself (a killed thread could leave SQLite's in-process locks held). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.ref();
      w.postMessage({ op: 'close' });
      const t = setTimeout(() => void w.terminate(), 10_000);
      await exited;
      clearTimeout(t);
    }
    this.running = false;
    this.finishDelete(false);
    for (const r of this.waiters.splice(0)) r();
  }

  private ensure(): boolean {
    try {
      this.worker ??= this.spawn();
      return true;
    } catch (err) {
      this.log.warn({ err }, 'outbox housekeeping worker failed to start');
      return false;
    }
  }

  private post(m: Record<string, unknown>): void {
    // Ref'd while busy: writes may be waiting on it, and nothing else may keep the loop alive.
    this.worker!.ref();
    this.worker!.postMessage(m);
  }

  private idle(): void {
    if (!this.running && !this.deleting) this.worker?.unref();
  }

  private finishDelete(ok: boolean): void {
    const d = this.deleting;
    this.deleting = undefined;
    d?.(ok);
  }

  private ended(): void {
    this.running = false;
    this.runs++;
    for (const w of this.waiters.splice(0)) w();
  }

  private spawn(): Worker {
    const w = new Worker(WORKER, { eval: true, workerData: { path: this.path } });
    w.unref();
    w.on('message', (m: Reply) => {
      if (!m.ok) this.log.warn({ op: m.op, error: m.error }, 'outbox housekeeping failed');
      if (m.op === 'delete') this.finishDelete(m.ok);
      else { this.last = m; this.ended(); }
      this.idle();
    });
    w.on('error', (err) => {
      this.log.warn({ err }, 'outbox housekeeping worker failed');
      if (this.worker === w) this.worker = undefined;
      this.finishDelete(false);
      this.ended();
    });
    return w;
  }
}
