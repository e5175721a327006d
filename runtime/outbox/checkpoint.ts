// The store's background work runs in one worker thread on a second connection, so it never
// blocks the event loop: reading batches for the uplink (cut by kind, joined by SQLite: one
// string per batch for the main thread, not an object per record), deleting acked rows
// (committed without fsync: a lost delete only means a duplicate; one chunk per turn of the
// worker's loop, so reads are not held up) and checkpoints (copying the WAL back into the
// database, with their fsyncs). Checkpoints are PASSIVE: they never take the write lock; once
// everything is copied back the next write restarts the WAL and journal_size_limit trims it.
import { Worker } from 'node:worker_threads';
import type { Log, StoredBatch } from '../types.ts';

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
// Batch boundaries from the small columns (arrays, no object per row), then SQLite joins each
// batch: the subquery walks the primary key in order (no sort), so the JSON comes in seq order.
const index = db.prepare('SELECT seq, kind, bytes FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
index.setReturnArrays(true);
const joined = db.prepare("SELECT group_concat(json, ',') AS j FROM (SELECT json FROM outbox WHERE seq >= ? AND seq <= ? ORDER BY seq)");
function read(m) {
  const rows = index.all(m.afterSeq, m.maxRecords * m.maxBatches);
  const out = [];
  let b, bytes = 0;
  for (const [seq, kind, size] of rows) {
    if (!b || kind !== b.kind || b.count >= m.maxRecords || (b.count > 0 && bytes + 1 + size > m.maxBytes)) {
      b = { kind, firstSeq: seq, lastSeq: seq, count: 0, json: '' };
      out.push(b);
      bytes = -1;
    }
    b.lastSeq = seq;
    b.count++;
    bytes += 1 + size;
  }
  for (const x of out) x.json = joined.get(x.firstSeq, x.lastSeq).j;
  return out;
}
function deleteChunks(m, at) {
  try {
    if (at >= m.upto) {
      checkpoint();
      return parentPort.postMessage({ op: 'delete', ok: true, upto: m.upto });
    }
    const to = Math.min(m.upto, at + ${WORKER_DELETE_CHUNK});
    db.exec('BEGIN IMMEDIATE');
    try { del.run(to); meta.run(m.lastSeq); db.exec('COMMIT'); } catch (err) { if (db.isTransaction) db.exec('ROLLBACK'); throw err; }
    setImmediate(() => deleteChunks(m, to));
  } catch (err) {
    parentPort.postMessage({ op: 'delete', ok: false, upto: m.upto, error: String(err && err.message || err) });
  }
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'close') {
      db.close();
      process.exit(0);
    } else if (m.op === 'read') {
      parentPort.postMessage({ op: 'read', ok: true, id: m.id, batches: read(m) });
    } else if (m.op === 'delete') {
      deleteChunks(m, m.from);
    } else if (m.op === 'vacuum') {
      db.exec('PRAGMA incremental_vacuum(' + Number(m.pages) + ')');
      parentPort.postMessage({ op: 'vacuum', ok: true });
    } else {
      const r = checkpoint();
      parentPort.postMessage({ op: 'checkpoint', ok: true, busy: r.busy, log: r.log, done: r.checkpointed });
    }
  } catch (err) {
    parentPort.postMessage({ op: m.op, ok: false, id: m.id, upto: m.upto, error: String(err && err.message || err) });
  }
});
`;

interface Reply { op: 'delete' | 'checkpoint' | 'read' | 'vacuum'; ok: boolean; id?: number; upto?: number; batches?: StoredBatch[]; error?: string }

/**
 * A worker idle this long is retired (its connection closed, the thread ended) and made again on
 * the next need: a gateway at rest does not carry a second V8 isolate (~12 MB RSS) between the
 * few acks and checkpoints of its summary windows.
 */
const IDLE_RETIRE_MS = 15_000;

export class Checkpointer {
  private worker: Worker | undefined;
  private retireTimer: NodeJS.Timeout | undefined;
  private running = false;
  private deleting: ((ok: boolean) => void) | undefined;
  private vacuuming = false;
  private waiters: (() => void)[] = [];
  private nextRead = 0;
  private readonly reads = new Map<number, { resolve: (b: StoredBatch[]) => void; reject: (e: Error) => void }>();
  private readonly log: Log;
  private readonly path: string;
  /** Completed checkpoint runs and the last result (tests, benchmarks). */
  runs = 0;
  last: unknown;

  private readonly idleMs: number;

  constructor(path: string, log: Log, idleMs = IDLE_RETIRE_MS) {
    this.path = path;
    this.log = log;
    this.idleMs = idleMs;
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

  /** Give up to `pages` free pages back to the file system in the worker; false when it cannot (the caller does it). */
  vacuum(pages: number): boolean {
    if (this.vacuuming) return true;
    if (!this.ensure()) return false;
    this.vacuuming = true;
    this.post({ op: 'vacuum', pages });
    return true;
  }

  /** Batches for the uplink (Outbox.readBatches), read and joined in the worker. */
  read(afterSeq: number, maxRecords: number, maxBytes: number, maxBatches: number): Promise<StoredBatch[]> {
    if (!this.ensure()) return Promise.reject(new Error(`outbox ${this.path}: no worker to read with`));
    const id = ++this.nextRead;
    return new Promise((resolve, reject) => {
      this.reads.set(id, { resolve, reject });
      this.post({ op: 'read', id, afterSeq, maxRecords, maxBytes, maxBatches });
    });
  }

  busyDeleting(): boolean {
    return this.deleting !== undefined;
  }

  /** After the work in hand: the worker closes its connection itself (a killed thread could leave SQLite's in-process locks held). */
  async close(): Promise<void> {
    clearTimeout(this.retireTimer);
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
    this.vacuuming = false;
    this.finishDelete(false);
    for (const r of this.waiters.splice(0)) r();
    this.failReads(new Error(`outbox ${this.path} is closed`));
  }

  private failReads(err: Error): void {
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
  }

  private ensure(): boolean {
    clearTimeout(this.retireTimer);
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
    if (this.running || this.deleting || this.vacuuming || this.reads.size > 0 || !this.worker) return;
    this.worker.unref();
    clearTimeout(this.retireTimer);
    this.retireTimer = setTimeout(() => this.retire(), this.idleMs);
    this.retireTimer.unref();
  }

  /** End an idle worker; the next request spawns a fresh one. */
  private retire(): void {
    const w = this.worker;
    if (!w || this.running || this.deleting || this.vacuuming || this.reads.size > 0) return;
    this.worker = undefined;
    // Nothing is pending, so nothing it could still say concerns the next worker.
    w.removeAllListeners();
    w.on('error', () => {});
    w.postMessage({ op: 'close' });
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
      if (m.op === 'read') {
        const r = this.reads.get(m.id!);
        this.reads.delete(m.id!);
        if (m.ok) r?.resolve(m.batches!);
        else r?.reject(new Error(`outbox ${this.path}: read failed: ${m.error}`));
        return this.idle();
      }
      if (!m.ok) this.log.warn({ op: m.op, error: m.error }, 'outbox housekeeping failed');
      if (m.op === 'vacuum') {
        this.vacuuming = false;
        return this.idle();
      }
      if (m.op === 'delete') this.finishDelete(m.ok);
      else { this.last = m; this.ended(); }
      this.idle();
    });
    w.on('error', (err) => {
      this.log.warn({ err }, 'outbox housekeeping worker failed');
      if (this.worker === w) this.worker = undefined;
      this.finishDelete(false);
      this.vacuuming = false;
      this.ended();
      this.failReads(err);
    });
    return w;
  }
}
