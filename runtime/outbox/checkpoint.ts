// Checkpoints run in a worker thread on a second connection, so copying the WAL back into the
// database (and its fsyncs) never blocks the event loop. PASSIVE only: it never takes the write
// lock, so the main connection never sees SQLITE_BUSY; once everything is copied back the next
// write restarts the WAL from its start and journal_size_limit trims the file.
import { Worker } from 'node:worker_threads';
import type { Log } from '../types.ts';

// Plain CommonJS so the worker runs the same from the sources and from the build.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
parentPort.on('message', () => {
  try {
    const r = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get();
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, done: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
});
`;

export class Checkpointer {
  private worker: Worker | undefined;
  private running = false;
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
    if (done) this.waiters.push(done);
    if (this.running) return true;
    try {
      this.worker ??= this.spawn();
    } catch (err) {
      this.log.warn({ err }, 'outbox checkpoint worker failed to start');
      this.waiters = [];
      return false;
    }
    this.running = true;
    // Ref'd while it runs: writes may be waiting on it, and nothing else may keep the loop alive.
    this.worker.ref();
    this.worker.postMessage('checkpoint');
    return true;
  }

  private ended(): void {
    this.running = false;
    this.worker?.unref();
    this.runs++;
    for (const w of this.waiters.splice(0)) w();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    this.running = false;
    for (const r of this.waiters.splice(0)) r();
  }

  private spawn(): Worker {
    const w = new Worker(WORKER, { eval: true, workerData: { path: this.path } });
    w.unref();
    w.on('message', (m: { ok: boolean; error?: string; busy?: number; log?: number; done?: number }) => {
      this.last = m;
      if (!m.ok) this.log.warn({ error: m.error }, 'outbox checkpoint failed');
      this.ended();
    });
    w.on('error', (err) => {
      this.log.warn({ err }, 'outbox checkpoint worker failed');
      if (this.worker === w) this.worker = undefined;
      this.ended();
    });
    return w;
  }
}
