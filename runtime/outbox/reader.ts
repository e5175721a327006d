// Reading for the uplink off the main thread: a worker with its own connection reads the next
// records, cuts them into batches of one kind and joins their stored JSON, so the main thread
// gets one string per batch instead of an object per record (WAL readers never block writers).
import { Worker } from 'node:worker_threads';
import type { StoredBatch } from '../types.ts';

// Plain CommonJS so the worker runs the same from the sources and from the build.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path);
// Boundaries from the small columns (arrays, no object per row), then SQLite joins each batch:
// the subquery walks the primary key in order (no sort), so the JSON comes in seq order.
const index = db.prepare('SELECT seq, kind, bytes FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
index.setReturnArrays(true);
const joined = db.prepare("SELECT group_concat(json, ',') AS j FROM (SELECT json FROM outbox WHERE seq >= ? AND seq <= ? ORDER BY seq)");
parentPort.on('message', (m) => {
  if (m.op === 'close') { db.close(); process.exit(0); }
  try {
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
    parentPort.postMessage({ id: m.id, batches: out });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

export class BatchReader {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: StoredBatch[]) => void; reject: (e: Error) => void }>();
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  read(afterSeq: number, maxRecords: number, maxBytes: number, maxBatches: number): Promise<StoredBatch[]> {
    this.worker ??= this.spawn();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.ref();
      this.worker!.postMessage({ id, afterSeq, maxRecords, maxBytes, maxBatches });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) {
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage({ op: 'close' });
      await exited;
    }
    this.failAll(new Error(`outbox ${this.path} is closed`));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private spawn(): Worker {
    const w = new Worker(WORKER, { eval: true, workerData: { path: this.path } });
    w.unref();
    w.on('message', (m: { id: number; batches?: StoredBatch[]; error?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error !== undefined) p?.reject(new Error(`outbox ${this.path}: read failed: ${m.error}`));
      else p?.resolve(m.batches!);
    });
    w.on('error', (err) => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(err);
    });
    return w;
  }
}
