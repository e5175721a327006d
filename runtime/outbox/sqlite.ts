// The durable outbox on node:sqlite (WAL, synchronous=FULL) with group commit.
// append() queues records in memory; one transaction writes each group, and the append
// promises resolve after its COMMIT (fsync). When the disk refuses writes the queue simply
// stays in memory (bounded) and a timer retries: the agent keeps running.
import type { DatabaseSync } from 'node:sqlite';
import { newId } from '../ids.ts';
import { MIN_VALID_TIME } from '../clock.ts';
import type { Log, Outbox, OutboxStats, OutRecord, RecordKind, StoredRecord, WaysideEvent } from '../types.ts';
import { DropReporter } from './drops.ts';
import { OutboxClosedError, OutboxDroppedError, type DropReason } from './errors.ts';
import { fileSize, maintainFile, openDb, sqliteErrcode, type Statements } from './schema.ts';

export interface OutboxOptions {
  /** Database file; the parent directory is created if missing. */
  path: string;
  /** Cap on the sum of stored record bytes (UTF-8 JSON); bounds the file too (docs/outbox.md). */
  maxBytes: number;
  /** Records whose ts is older than now - maxAgeMs are dropped, reason 'age'. */
  maxAgeMs: number;
  /** What to drop when a group does not fit under maxBytes. Default drop-oldest. */
  whenFull?: 'drop-oldest' | 'drop-newest';
  /** Group-commit window in ms. Default 5. */
  commitIntervalMs?: number;
  /** Bound of records held in memory (not yet on disk). Default 16 MiB. */
  memoryMaxBytes?: number;
  /** Test hook: PRAGMA max_page_count, to simulate a full disk. */
  maxPageCount?: number;
  /** Period of the retry / age-sweep timer in ms. Default 1000. */
  retryIntervalMs?: number;
}

export interface OutboxDeps {
  log: Log;
  now?: () => number;
  onEvent?: (e: WaysideEvent) => void;
}

export interface SqliteOutbox extends Outbox {
  /** Append transactions committed since open and the records in them (benchmarks: mean group size). */
  commitStats(): { commits: number; records: number };
}

/** A group is written as soon as this many records (or bytes) are queued, without waiting for the window. */
export const GROUP_MAX_RECORDS = 2000;
export const GROUP_MAX_BYTES = 1 << 20;
const MAINTENANCE_EVERY_MS = 30_000;

interface Ticket { left: number; dropped: number; reason?: DropReason; resolve: () => void; reject: (e: Error) => void }
interface Queued { id: string; kind: RecordKind; ts: number; json: string; bytes: number; t: Ticket }
type Row = Record<string, number>;

export function openOutbox(opts: OutboxOptions, deps: OutboxDeps): SqliteOutbox {
  return new SqliteStore(opts, deps);
}

class SqliteStore implements SqliteOutbox {
  private readonly db: DatabaseSync;
  private readonly st: Statements;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly drops: DropReporter;
  private readonly onEvent?: (e: WaysideEvent) => void;
  private readonly policy: 'drop-oldest' | 'drop-newest';
  private readonly windowMs: number;
  private readonly memoryMax: number;
  private readonly walLimit: number;
  // What is on disk, kept in memory so stats() never queries.
  private lastSeq = 0;
  private diskCount = 0;
  private diskBytes = 0;
  private oldestTs: number | undefined;
  /** Highest acked seq whose DELETE failed (disk full); peek hides it until a retry succeeds. */
  private ackPending = 0;
  // Records not yet on disk, in append order: q[qHead..].
  private q: Queued[] = [];
  private qHead = 0;
  private qBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushNow: NodeJS.Immediate | undefined;
  private readonly tickTimer: NodeJS.Timeout;
  private lastMaintenance = performance.now();
  private diskFull = false;
  private metaDirty = false;
  private closed = false;
  private appended = 0;
  private acked = 0;
  private commits = 0;
  private committed = 0;

  private readonly opts: OutboxOptions;

  constructor(opts: OutboxOptions, deps: OutboxDeps) {
    this.opts = opts;
    this.log = deps.log.child({ mod: 'outbox', path: opts.path });
    this.now = deps.now ?? Date.now;
    this.drops = new DropReporter(this.log, this.now, deps.onEvent);
    this.onEvent = deps.onEvent;
    this.policy = opts.whenFull ?? 'drop-oldest';
    this.windowMs = opts.commitIntervalMs ?? 5;
    this.memoryMax = opts.memoryMaxBytes ?? 16 * 1024 * 1024;
    // The WAL is kept to a quarter of the cap (256 KiB..4 MiB) so small stores stay small on disk.
    this.walLimit = Math.min(4 << 20, Math.max(256 << 10, Math.floor(opts.maxBytes / 4)));
    ({ db: this.db, st: this.st } = openDb(opts.path, { walLimitBytes: this.walLimit, maxPageCount: opts.maxPageCount }));
    const tot = this.st.totals.get() as Row;
    this.diskCount = tot.n;
    this.diskBytes = tot.b;
    this.lastSeq = tot.s;
    this.oldestTs = tot.t ?? undefined;
    for (const m of this.st.metaAll.all() as { key: string; value: number }[]) {
      if (m.key === 'last_seq') this.lastSeq = Math.max(this.lastSeq, m.value);
      else if (m.key.startsWith('dropped.')) this.drops.restore(m.key.slice(8), m.value);
    }
    this.tickTimer = setInterval(() => this.tick(), opts.retryIntervalMs ?? 1000);
    this.tickTimer.unref();
    this.log.info({ depth: this.diskCount, bytes: this.diskBytes, lastSeq: this.lastSeq }, 'outbox opened');
  }

  append(records: OutRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new OutboxClosedError(this.opts.path));
    if (records.length === 0) return Promise.resolve();
    let items: Omit<Queued, 't'>[];
    try {
      // Serialize now: the stored bytes are what the caller passed, whatever it mutates later.
      items = records.map((r) => {
        const json = JSON.stringify(r);
        return { id: r.id, kind: r.kind, ts: r.ts, json, bytes: Buffer.byteLength(json) };
      });
    } catch (err) {
      return Promise.reject(new Error(`outbox ${this.opts.path}: cannot serialize record: ${(err as Error).message}`, { cause: err }));
    }
    return new Promise<void>((resolve, reject) => {
      const t: Ticket = { left: items.length, dropped: 0, resolve, reject };
      for (const it of items) {
        (it as Queued).t = t;
        this.q.push(it as Queued);
        this.qBytes += it.bytes;
      }
      this.appended += items.length;
      this.enforceMemory();
      this.schedule();
    });
  }

  peek(n: number, afterSeq = 0): StoredRecord[] {
    if (this.closed) throw new OutboxClosedError(this.opts.path);
    // node:sqlite rows are plain objects with exactly the StoredRecord fields; json is returned as stored.
    return this.st.peek.all(Math.max(afterSeq, this.ackPending), n) as unknown as StoredRecord[];
  }

  ack(uptoSeq: number): void {
    if (this.closed) return;
    const upto = Math.min(uptoSeq, this.lastSeq);
    if (upto <= 0) return;
    if (!this.applyAck(upto)) this.ackPending = Math.max(this.ackPending, upto);
    // Acks free pages: a store waiting for disk space retries right away.
    if (this.diskFull) setImmediate(() => this.drain());
  }

  stats(): OutboxStats {
    const held = this.q.length - this.qHead;
    const oldest = this.oldestTs ?? (held > 0 ? this.q[this.qHead].ts : undefined);
    return {
      depth: this.diskCount + held,
      bytes: this.diskBytes + this.qBytes,
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest),
      dropped: this.drops.total,
      droppedByReason: { ...this.drops.byReason },
      memoryHeld: this.diskFull ? held : 0,
      diskFull: this.diskFull,
      fileBytes: fileSize(this.opts.path) + fileSize(`${this.opts.path}-wal`),
      appended: this.appended,
      acked: this.acked,
    };
  }

  commitStats(): { commits: number; records: number } {
    return { commits: this.commits, records: this.committed };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.tickTimer);
    this.drain();
    const left = this.q.length - this.qHead;
    if (left > 0) {
      // The disk still refuses writes: these records are lost, say so.
      this.dropQueued(left, 'closed');
      this.log.error({ dropped: left }, 'outbox closed while the disk refused writes');
    }
    this.closed = true;
    this.clearFlush();
    if (this.metaDirty) this.tryWrite(() => this.writeMeta());
    this.drops.flush();
    this.maintain(true);
    this.db.close();
    this.log.info({ depth: this.diskCount, lastSeq: this.lastSeq }, 'outbox closed');
  }

  // ---- group commit ----

  private schedule(): void {
    if (this.diskFull) return; // the tick timer (and acks) retry
    if (this.q.length - this.qHead >= GROUP_MAX_RECORDS || this.qBytes >= GROUP_MAX_BYTES) {
      this.flushNow ??= setImmediate(() => this.drain());
    } else {
      this.flushTimer ??= setTimeout(() => this.drain(), this.windowMs);
    }
  }

  private clearFlush(): void {
    if (this.flushTimer) { clearTimeout(this.flushTimer); this.flushTimer = undefined; }
    if (this.flushNow) { clearImmediate(this.flushNow); this.flushNow = undefined; }
  }

  /** Write everything queued, one transaction per group, in order. Never throws. */
  private drain(): void {
    this.clearFlush();
    if (this.closed) return;
    try {
      if (this.ackPending > 0 && this.applyAck(this.ackPending)) this.ackPending = 0;
      while (this.q.length > this.qHead) {
        let end = this.qHead;
        let bytes = 0;
        while (end < this.q.length && end - this.qHead < GROUP_MAX_RECORDS && bytes < GROUP_MAX_BYTES) bytes += this.q[end++].bytes;
        const err = this.writeGroup(end);
        if (err) return this.enterDiskFull(err);
      }
      this.q = [];
      this.qHead = 0;
      // Nothing queued but the disk was full (everything held got dropped): probe with a meta write.
      if (this.diskFull && this.metaDirty) {
        const err = this.tryWrite(() => this.writeMeta());
        if (err) return this.enterDiskFull(err);
      }
      if (this.diskFull) this.leaveDiskFull();
    } catch (err) {
      this.log.error({ err }, 'outbox drain failed');
    }
  }

  /** One transaction: age cap, size cap by policy, insert q[qHead..end). Returns the error if it rolled back. */
  private writeGroup(end: number): Error | undefined {
    const { st, q } = this;
    const start = this.qHead;
    let bytesIn = 0;
    let minTs = Infinity;
    for (let i = start; i < end; i++) { bytesIn += q[i].bytes; if (q[i].ts < minTs) minTs = q[i].ts; }
    let age = { n: 0, b: 0 };
    let old = { n: 0, b: 0 };
    let skipTo = start; // drop-oldest: head of the group itself dropped (group alone over the cap)
    let acceptEnd = end; // drop-newest: tail of the group refused
    let seq = this.lastSeq;
    let insertedBytes = 0;
    const err = this.tryWrite(() => {
      // Age first: expired records free room before the size policy drops live ones.
      const cutoff = this.now() - this.opts.maxAgeMs;
      if (this.oldestTs !== undefined && this.oldestTs < cutoff) {
        // Records stamped before the gateway clock was trusted (ts before MIN_VALID_TIME) have
        // no known age: the age cap skips them (the size cap still bounds them).
        age = st.sumOlder.get(MIN_VALID_TIME, cutoff) as Row as { n: number; b: number };
        if (age.n > 0) st.delOlder.run(MIN_VALID_TIME, cutoff);
      }
      let over = this.diskBytes - age.b + bytesIn - this.opts.maxBytes;
      if (over > 0 && this.policy === 'drop-oldest') {
        old = this.deleteHead(over);
        over -= old.b;
        while (over > 0 && skipTo < end) over -= q[skipTo++].bytes;
      } else if (over > 0) {
        let room = this.opts.maxBytes - (this.diskBytes - age.b);
        acceptEnd = start;
        while (acceptEnd < end && q[acceptEnd].bytes <= room) room -= q[acceptEnd++].bytes;
      }
      for (let i = skipTo; i < acceptEnd; i++) {
        const r = q[i];
        st.insert.run(++seq, r.id, r.kind, r.ts, r.bytes, r.json);
        insertedBytes += r.bytes;
      }
      const droppedNow = age.n + old.n + (skipTo - start) + (end - acceptEnd);
      if (droppedNow > 0 || this.metaDirty) this.writeMeta(seq, { age: age.n, full: droppedNow - age.n });
    });
    if (err) return err;
    // Committed: now the in-memory view may change.
    const inserted = acceptEnd - skipTo;
    this.lastSeq = seq;
    this.diskCount += inserted - age.n - old.n;
    this.diskBytes += insertedBytes - age.b - old.b;
    if (this.diskCount === 0) this.oldestTs = undefined;
    else if (age.n + old.n > 0) this.oldestTs = (st.minTs.get() as Row).t;
    else if (inserted > 0) this.oldestTs = Math.min(this.oldestTs ?? Infinity, minTs);
    this.metaDirty = false;
    if (inserted > 0) { this.commits++; this.committed += inserted; }
    let fullN = old.n;
    let fullB = old.b;
    for (let i = start; i < end; i++) {
      const r = q[i];
      if (i < skipTo || i >= acceptEnd) { fullN++; fullB += r.bytes; settle(r.t, 'full', this.opts.path); } else settle(r.t, undefined, this.opts.path);
    }
    this.qHead = end;
    this.qBytes -= bytesIn;
    this.drops.add('age', age.n, age.b);
    this.drops.add('full', fullN, fullB);
    return undefined;
  }

  /** Delete the oldest stored records until at least `need` bytes are freed (inside a transaction). */
  private deleteHead(need: number): { n: number; b: number } {
    let n = 0, b = 0, upto = 0;
    while (b < need) {
      const rows = this.st.head.all(upto) as Row[];
      if (rows.length === 0) break;
      for (const r of rows) {
        n++; b += r.bytes; upto = r.seq;
        if (b >= need) break;
      }
    }
    if (n > 0) this.st.delUpto.run(upto);
    return { n, b };
  }

  /** Persist last_seq (so seq keeps increasing once the table is empty) and the drop counters. */
  private writeMeta(seq = this.lastSeq, extra: Partial<Record<DropReason, number>> = {}): void {
    this.st.metaSet.run('last_seq', seq);
    const reasons = new Set([...Object.keys(this.drops.byReason), ...Object.keys(extra)]);
    for (const r of reasons) {
      const n = (this.drops.byReason[r] ?? 0) + (extra[r as DropReason] ?? 0);
      if (n > 0) this.st.metaSet.run(`dropped.${r}`, n);
    }
  }

  private applyAck(upto: number): boolean {
    let res = { n: 0, b: 0 };
    const err = this.tryWrite(() => {
      res = this.st.sumUpto.get(upto) as Row as { n: number; b: number };
      if (res.n === 0) return;
      this.st.delUpto.run(upto);
      this.st.metaSet.run('last_seq', this.lastSeq);
    });
    if (err) {
      this.log.warn({ err, upto }, 'outbox ack could not delete yet; will retry');
      return false;
    }
    this.diskCount -= res.n;
    this.diskBytes -= res.b;
    this.acked += res.n;
    if (res.n > 0) this.oldestTs = this.diskCount === 0 ? undefined : (this.st.minTs.get() as Row).t;
    return true;
  }

  private tryWrite(fn: () => void): Error | undefined {
    try {
      this.db.exec('BEGIN');
      fn();
      this.db.exec('COMMIT');
      return undefined;
    } catch (err) {
      // SQLITE_FULL usually rolls the transaction back by itself; make sure of it.
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch (rbErr) { this.log.error({ err: rbErr }, 'outbox rollback failed'); }
      return err as Error;
    }
  }

  // ---- memory bound, disk full ----

  /** Drop the oldest queued records while the queue is over its memory bound. */
  private enforceMemory(): void {
    let n = 0;
    let b = 0;
    while (this.qBytes - b > this.memoryMax && this.qHead + n < this.q.length) b += this.q[this.qHead + n++].bytes;
    if (n > 0) this.dropQueued(n, 'memory');
  }

  private dropQueued(n: number, reason: DropReason): void {
    let b = 0;
    for (let i = 0; i < n; i++) {
      const r = this.q[this.qHead++];
      b += r.bytes;
      settle(r.t, reason, this.opts.path);
    }
    this.qBytes -= b;
    this.metaDirty = true;
    this.drops.add(reason, n, b);
    if (this.qHead > 4096 && this.qHead * 2 > this.q.length) { this.q = this.q.slice(this.qHead); this.qHead = 0; }
  }

  private enterDiskFull(err: Error): void {
    if (this.diskFull) return;
    this.diskFull = true;
    const errcode = sqliteErrcode(err);
    const held = this.q.length - this.qHead;
    this.log.error({ err, errcode, held, heldBytes: this.qBytes }, 'outbox cannot write to disk; holding records in memory');
    this.emit({ state: 'raise', data: { errcode, error: err.message, held, heldBytes: this.qBytes } });
  }

  private leaveDiskFull(): void {
    this.diskFull = false;
    this.log.info({ depth: this.diskCount }, 'outbox writes to disk again');
    this.emit({ state: 'clear', data: { depth: this.diskCount } });
  }

  private emit(e: { state: 'raise' | 'clear'; data: Record<string, unknown> }): void {
    try {
      this.onEvent?.({ id: newId(), type: 'outbox.disk_full', severity: 'critical', ts: this.now(), ...e });
    } catch (err) {
      this.log.error({ err }, 'outbox event listener failed');
    }
  }

  // ---- periodic work ----

  private maintain(force: boolean): void {
    this.lastMaintenance = performance.now();
    try {
      maintainFile(this.db, this.opts.path, this.walLimit, force);
    } catch (err) {
      this.log.warn({ err }, 'outbox maintenance failed');
    }
  }

  private tick(): void {
    if (this.closed) return;
    try {
      if (this.diskFull || this.ackPending > 0) this.drain();
      else if (this.q.length === this.qHead && this.oldestTs !== undefined && this.oldestTs < this.now() - this.opts.maxAgeMs) {
        const err = this.writeGroup(this.qHead); // an empty group = age sweep only
        if (err) this.log.warn({ err }, 'outbox age sweep failed');
      }
      if (performance.now() - this.lastMaintenance > MAINTENANCE_EVERY_MS) this.maintain(false);
    } catch (err) {
      this.log.error({ err }, 'outbox tick failed');
    }
  }
}

function settle(t: Ticket, dropped: DropReason | undefined, path: string): void {
  if (dropped) { t.dropped++; t.reason ??= dropped; }
  if (--t.left > 0) return;
  if (t.dropped > 0) t.reject(new OutboxDroppedError(t.reason!, t.dropped, path));
  else t.resolve();
}
