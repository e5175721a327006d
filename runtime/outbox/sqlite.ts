// The durable outbox on node:sqlite (WAL) with group commit.
// append() queues records in memory; one transaction writes each group, and the append
// promises resolve once that COMMIT is on stable storage (fdatasync off the main thread,
// sync.ts). Acks move an in-memory cursor at once; the deletes follow in small chunks without
// fsync. When the disk refuses writes the queue stays in memory (bounded; the reserved lane of
// the agent's own events is never evicted) and a timer retries: the agent keeps running.
import type { DatabaseSync } from 'node:sqlite';
import { dirname } from 'node:path';
import { newId } from '../ids.ts';
import { MIN_VALID_TIME } from '../clock.ts';
import type { Log, Outbox, OutboxStats, OutRecord, RecordKind, StoredBatch, StoredRecord, WaysideEvent } from '../types.ts';
import type { EventPayloads } from '../uplink/protocol.ts';
import { DropReporter } from './drops.ts';
import { OutboxClosedError, OutboxDroppedError, type DropReason } from './errors.ts';
import { fileSize, maintainFile, openDb, SCHEMA_VERSION, sqliteErrcode, type Statements } from './schema.ts';
import { WalSync } from './sync.ts';
import { Checkpointer } from './checkpoint.ts';
import { freeBytes, Reserve, totalBytes } from './space.ts';
import { coalesce, isLaneRecord, LANE_MAX } from './lane.ts';

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
  /** The housekeeping worker is ended after this long idle, made again when needed. Default 15 s. */
  workerIdleMs?: number;
  /** Bytes of the reserve file beside the database; default 1/16 of the filesystem, 64 KiB..1 MiB. 0 = none. */
  reserveBytes?: number;
}

export interface OutboxDeps {
  log: Log;
  now?: () => number;
  /** Ids of the store's own events (the agent passes ctx.newId: stamped from its clock). */
  newId?: () => string;
  onEvent?: (e: WaysideEvent) => void;
}

export interface SqliteOutbox extends Outbox {
  readBatches(afterSeq: number, maxRecords: number, maxBytes: number, maxBatches: number): Promise<StoredBatch[]>;
  /** Append transactions committed since open and the records in them (benchmarks: mean group size). */
  commitStats(): { commits: number; records: number };
  /**
   * How long the store has been failing to make progress: records queued and not written
   * (the disk not full) or a WAL fdatasync still running, in ms; 0 when it keeps up. The
   * systemd watchdog withholds its ping when this grows past its period (runtime/sdnotify.ts).
   */
  stalledMs(): number;
}

/** A group is written as soon as this many records (or bytes) are queued, without waiting for the window. */
export const GROUP_MAX_RECORDS = 2000;
export const GROUP_MAX_BYTES = 1 << 20;
/** Free pages are given back a bounded step at a time (maintainFile), at most this often. */
const MAINTENANCE_EVERY_MS = 1000;
/** Acked rows deleted per transaction: a few ms of main-thread work, then the loop breathes. */
const DELETE_CHUNK = 1000;
/** Acked rows are deleted once acks have been quiet this long (scheduleDelete)... */
const DELETE_DELAY_MS = 1000;
/** ...or at the latest this long after the first of them. */
const DELETE_MAX_DELAY_MS = 10_000;
/** Free space is read (statfs) at most this often for stats(). */
const STATFS_EVERY_MS = 1000;

interface Ticket { left: number; dropped: number; reason?: DropReason; error?: Error; resolve: () => void; reject: (e: Error) => void }
interface Queued { id: string; kind: RecordKind; ts: number; json: string; bytes: number; t: Ticket; also?: Ticket[]; rec?: OutRecord }
type Row = Record<string, number>;

export function openOutbox(opts: OutboxOptions, deps: OutboxDeps): SqliteOutbox {
  return new SqliteStore(opts, deps);
}

class SqliteStore implements SqliteOutbox {
  private readonly db: DatabaseSync;
  private readonly st: Statements;
  private readonly log: Log;
  private readonly now: () => number;
  private readonly newId: () => string;
  /** Commits since the last complete checkpoint (the tick checkpoints only then). */
  private walDirty = true;
  private readonly drops: DropReporter;
  private readonly onEvent?: (e: WaysideEvent) => void;
  private readonly policy: 'drop-oldest' | 'drop-newest';
  private readonly windowMs: number;
  private readonly memoryMax: number;
  private readonly walMax: number;
  private walLimit: number;
  private readonly sync: WalSync;
  private readonly checkpointer: Checkpointer;
  private readonly reserve: Reserve;
  private readonly dir: string;
  private free: number | undefined;
  private freeAt = -Infinity;
  // What is on disk, kept in memory so stats() never queries.
  private lastSeq = 0;
  private diskCount = 0;
  private diskBytes = 0;
  private oldestTs: number | undefined;
  /** Highest acked seq: peek hides everything up to it, whether or not it is deleted yet. */
  private ackedSeq = 0;
  /** Rows up to this seq are deleted on disk. */
  private deletedSeq = 0;
  private deleting: NodeJS.Immediate | undefined;
  /** Bytes acked and not deleted yet (deleted in bulk, scheduleDelete). */
  private ackedBytesPending = 0;
  private deleteIdle: NodeJS.Timeout | undefined;
  /** When the oldest ack not yet deleted arrived (performance.now), for DELETE_MAX_DELAY_MS. */
  private deleteFirstPending: number | undefined;
  /** Writes wait for the worker's checkpoint (the WAL passed its limit). */
  private gated = false;
  private readonly gateWaiting = new Set<'drain' | 'delete'>();
  /** After a checkpoint one write goes through: it restarts the WAL (the file keeps its size until then). */
  private passGate = false;
  private asideCount = 0;
  // Records not yet on disk, in append order: q[qHead..]. The lane: the agent's own events.
  private q: Queued[] = [];
  private qHead = 0;
  private qBytes = 0;
  private lane: Queued[] = [];
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
  /** When the queue last went from empty to non-empty (performance.now), for stalledMs. */
  private queuedSince = 0;

  private readonly opts: OutboxOptions;

  constructor(opts: OutboxOptions, deps: OutboxDeps) {
    this.opts = opts;
    this.log = deps.log.child({ mod: 'outbox', path: opts.path });
    this.now = deps.now ?? Date.now;
    this.newId = deps.newId ?? (() => newId());
    this.drops = new DropReporter(this.log, this.now, this.newId, deps.onEvent);
    this.onEvent = deps.onEvent;
    this.policy = opts.whenFull ?? 'drop-oldest';
    this.windowMs = opts.commitIntervalMs ?? 5;
    this.memoryMax = opts.memoryMaxBytes ?? 16 * 1024 * 1024;
    this.dir = dirname(opts.path);
    // The WAL is kept to a quarter of the cap (256 KiB..4 MiB) so small stores stay small on
    // disk, and to an eighth of the free space, so a small filesystem is not all WAL.
    this.walMax = Math.min(4 << 20, Math.max(256 << 10, Math.floor(opts.maxBytes / 4)));
    let migratedFrom: number;
    ({ db: this.db, st: this.st, migratedFrom } = openDb(opts.path, { walLimitBytes: this.walMax, maxPageCount: opts.maxPageCount }));
    if (migratedFrom > 0 && migratedFrom < SCHEMA_VERSION) this.log.warn({ from: migratedFrom, to: SCHEMA_VERSION }, 'outbox store schema migrated');
    this.free = freeBytes(this.dir);
    this.walLimit = this.walMax;
    this.adaptWalLimit();
    this.sync = new WalSync(opts.path);
    this.checkpointer = new Checkpointer(opts.path, this.log, opts.workerIdleMs);
    const fsTotal = totalBytes(this.dir) ?? 0;
    this.reserve = new Reserve(`${opts.path}.reserve`, opts.reserveBytes ?? Math.min(1 << 20, Math.max(64 << 10, Math.floor(fsTotal / 16))), this.log);
    this.reserve.make(this.free);
    const tot = this.st.totals.get() as Row;
    this.diskCount = tot.n;
    this.diskBytes = tot.b;
    this.lastSeq = tot.s;
    this.oldestTs = tot.t ?? undefined;
    this.asideCount = (this.st.asideCount.get() as Row).n;
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
        const it: Omit<Queued, 't'> = { id: r.id, kind: r.kind, ts: r.ts, json, bytes: Buffer.byteLength(json) };
        if (isLaneRecord(r)) it.rec = JSON.parse(json) as OutRecord;
        return it;
      });
    } catch (err) {
      return Promise.reject(new Error(`outbox ${this.opts.path}: cannot serialize record: ${(err as Error).message}`, { cause: err }));
    }
    return new Promise<void>((resolve, reject) => {
      const t: Ticket = { left: items.length, dropped: 0, resolve, reject };
      if (this.q.length - this.qHead + this.lane.length === 0) this.queuedSince = performance.now();
      let laneGrew = false;
      for (const it of items) {
        (it as Queued).t = t;
        if (it.rec) { this.lane.push(it as Queued); laneGrew = true; continue; }
        this.q.push(it as Queued);
        this.qBytes += it.bytes;
      }
      this.appended += items.length;
      if (laneGrew && this.lane.length > LANE_MAX) this.coalesceLane();
      this.enforceMemory();
      this.schedule();
    });
  }

  peek(n: number, afterSeq = 0): StoredRecord[] {
    if (this.closed) throw new OutboxClosedError(this.opts.path);
    // node:sqlite rows are plain objects with exactly the StoredRecord fields; json is returned as stored.
    return this.st.peek.all(Math.max(afterSeq, this.ackedSeq), n) as unknown as StoredRecord[];
  }

  readBatches(afterSeq: number, maxRecords: number, maxBytes: number, maxBatches: number): Promise<StoredBatch[]> {
    if (this.closed) return Promise.reject(new OutboxClosedError(this.opts.path));
    const from = Math.max(afterSeq, this.ackedSeq);
    // Nothing stored past it (known in memory): no trip to the worker, which may then retire.
    if (from >= this.lastSeq) return Promise.resolve([]);
    return this.checkpointer.read(from, maxRecords, maxBytes, maxBatches);
  }

  ack(uptoSeq: number): void {
    if (this.closed) return;
    const upto = Math.min(uptoSeq, this.lastSeq);
    if (upto <= this.ackedSeq) return;
    // Only a read: the cursor moves whatever the free space; the delete follows (scheduleDelete).
    const res = this.st.sumRange.get(this.ackedSeq, upto) as Row;
    this.ackedSeq = upto;
    this.diskCount -= res.n;
    this.diskBytes -= res.b;
    this.acked += res.n;
    this.ackedBytesPending += res.b;
    this.refreshOldest();
    this.scheduleDelete();
  }

  setAside(fromSeq: number, toSeq: number, reason: string): void {
    if (this.closed) throw new OutboxClosedError(this.opts.path);
    const lo = Math.max(fromSeq, this.ackedSeq + 1);
    if (toSeq < lo) return;
    let res = { n: 0, b: 0 };
    const err = this.tryWrite(() => {
      res = this.st.sumRange.get(lo - 1, toSeq) as Row as { n: number; b: number };
      this.st.aside.run(reason, this.now(), lo, toSeq, this.ackedSeq);
      this.st.delRange.run(lo, toSeq);
    });
    if (err) throw new Error(`outbox ${this.opts.path}: cannot set records ${lo}..${toSeq} aside: ${err.message}`, { cause: err });
    this.diskCount -= res.n;
    this.diskBytes -= res.b;
    this.asideCount += res.n;
    this.refreshOldest();
    this.log.error({ fromSeq: lo, toSeq, count: res.n, reason }, 'outbox set records aside (dead letter)');
    this.emitEvent('outbox.dead_letter', 'warning', { count: res.n, fromSeq: lo, toSeq, reason, total: this.asideCount });
  }

  stats(): OutboxStats {
    const held = this.q.length - this.qHead + this.lane.length;
    const oldest = this.oldestTs ?? (this.q.length > this.qHead ? this.q[this.qHead].ts : this.lane[0]?.ts);
    if (performance.now() - this.freeAt > STATFS_EVERY_MS) { this.free = freeBytes(this.dir); this.freeAt = performance.now(); }
    return {
      depth: this.diskCount + held,
      bytes: this.diskBytes + this.qBytes + this.laneBytes(),
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest),
      dropped: this.drops.total,
      droppedByReason: { ...this.drops.byReason },
      memoryHeld: this.diskFull ? held : 0,
      diskFull: this.diskFull,
      fileBytes: fileSize(this.opts.path) + fileSize(`${this.opts.path}-wal`),
      appended: this.appended,
      acked: this.acked,
      fsFreeBytes: this.free,
      reserve: this.reserve.state,
      setAside: this.asideCount,
    };
  }

  commitStats(): { commits: number; records: number } {
    return { commits: this.commits, records: this.committed };
  }

  stalledMs(): number {
    const held = this.q.length - this.qHead + this.lane.length;
    const queued = held > 0 && !this.diskFull ? performance.now() - this.queuedSince : 0;
    return Math.max(queued, this.sync.busyMs());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.tickTimer);
    this.drain(true);
    const left = this.q.length - this.qHead + this.lane.length;
    if (left > 0) {
      // The disk still refuses writes: these records are lost, say so.
      this.dropQueued(this.q.length - this.qHead, 'closed');
      this.dropLane('closed');
      this.log.error({ dropped: left }, 'outbox closed while the disk refused writes');
    }
    this.closed = true;
    this.clearFlush();
    if (this.deleting) { clearImmediate(this.deleting); this.deleting = undefined; }
    clearTimeout(this.deleteIdle);
    // Appends already committed resolve once their fdatasync is done.
    await this.sync.settled();
    await this.checkpointer.close();
    if (this.ackedSeq > this.deletedSeq || this.metaDirty) this.tryWrite(() => { this.st.delUpto.run(this.ackedSeq); this.writeMeta(); });
    this.drops.flush();
    this.maintain(true);
    this.sync.close();
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

  /** Write everything queued (the lane first), one transaction per group, in order. Never throws. */
  private drain(force = false): void {
    this.clearFlush();
    if (this.closed) return;
    try {
      if (this.diskFull && !this.makeRoom()) return;
      if (!force && this.walGate('drain')) return;
      if (this.lane.length > 0) {
        const err = this.writeGroup(this.lane, 0, this.lane.length);
        if (err) return this.writeFailed(err);
        this.lane = [];
      }
      while (this.q.length > this.qHead) {
        if (!force && this.walGate('drain')) return;
        let end = this.qHead;
        let bytes = 0;
        while (end < this.q.length && end - this.qHead < GROUP_MAX_RECORDS && bytes < GROUP_MAX_BYTES) bytes += this.q[end++].bytes;
        const err = this.writeGroup(this.q, this.qHead, end);
        if (err) return this.writeFailed(err);
        this.qHead = end;
        this.qBytes -= bytes;
      }
      this.q = [];
      this.qHead = 0;
      // Nothing queued but the disk was full (everything held got dropped): probe with a meta write.
      if (this.diskFull && this.metaDirty) {
        const err = this.tryWrite(() => this.writeMeta());
        if (err) return this.enterDiskFull(err);
      }
      if (this.diskFull) this.leaveDiskFull();
      this.afterWrite();
    } catch (err) {
      this.log.error({ err }, 'outbox drain failed');
    }
  }

  /** One transaction: age cap, size cap by policy, insert list[start..end). Returns the error if it rolled back. */
  private writeGroup(list: Queued[], start: number, end: number): Error | undefined {
    const { st } = this;
    const q = list;
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
        age = st.sumOlder.get(this.ackedSeq, MIN_VALID_TIME, cutoff) as Row as { n: number; b: number };
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
        st.insert.run(++seq, r.id, r.kind, r.ts, r.bytes, r.json, r.rec ? 1 : 0);
        insertedBytes += r.bytes;
      }
      const droppedNow = age.n + old.n + (skipTo - start) + (end - acceptEnd);
      if (droppedNow > 0 || this.metaDirty) this.writeMeta(seq, { age: age.n, full: droppedNow - age.n });
    });
    if (err) return err;
    // Committed (not yet fsync'd): now the in-memory view may change.
    const inserted = acceptEnd - skipTo;
    this.lastSeq = seq;
    this.diskCount += inserted - age.n - old.n;
    this.diskBytes += insertedBytes - age.b - old.b;
    if (age.n + old.n > 0) this.refreshOldest();
    else if (inserted > 0) this.oldestTs = Math.min(this.oldestTs ?? Infinity, minTs);
    this.metaDirty = false;
    if (inserted > 0) { this.commits++; this.committed += inserted; }
    let fullN = old.n;
    let fullB = old.b;
    const durable: Queued[] = [];
    for (let i = start; i < end; i++) {
      const r = q[i];
      if (i < skipTo || i >= acceptEnd) { fullN++; fullB += r.bytes; settleAll(r, 'full', this.opts.path); } else durable.push(r);
    }
    if (durable.length > 0) {
      this.sync.afterCommit((syncErr) => {
        if (syncErr) this.log.error({ err: syncErr }, 'outbox fdatasync failed');
        for (const r of durable) settleAll(r, undefined, this.opts.path, syncErr);
      });
    }
    this.drops.add('age', age.n, age.b);
    this.drops.add('full', fullN, fullB);
    return undefined;
  }

  /** Delete the oldest stored records until at least `need` bytes are freed (inside a transaction). */
  private deleteHead(need: number): { n: number; b: number } {
    let n = 0, b = 0, upto = this.ackedSeq;
    while (b < need) {
      const rows = this.st.head.all(upto) as Row[];
      if (rows.length === 0) break;
      for (const r of rows) {
        n++; b += r.bytes; upto = r.seq;
        if (b >= need) break;
      }
    }
    if (n > 0) this.st.delHead.run(upto, this.ackedSeq);
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

  /** Oldest in storage order (one indexed row): what the age cap and oldestAgeMs look at. */
  private refreshOldest(): void {
    this.oldestTs = this.diskCount <= 0 ? undefined : ((this.st.minTs.get(this.ackedSeq) as Row | undefined)?.t ?? undefined);
  }

  // ---- acked rows: deleted lazily, in chunks, without fsync (a lost delete is a duplicate) ----

  /**
   * Acked rows are deleted lazily, in bulk: DELETE_DELAY_MS after the first ack not deleted yet,
   * or at once when a quarter of maxBytes is acked or free space runs low. Deleting competes for
   * the CPU with the drain itself; one big delete a second costs less than one per ack.
   */
  private scheduleDelete(): void {
    if (this.deleting || this.closed || this.diskFull || this.ackedSeq <= this.deletedSeq || this.checkpointer.busyDeleting()) return;
    const lowSpace = this.free !== undefined && this.free < 3 * this.reserve.bytes + 4 * this.walLimit;
    if (this.ackedBytesPending < this.opts.maxBytes / 4 && !lowSpace) {
      // While acks keep coming (a backlog draining), wait for a quiet second: the delete then
      // does not compete with the drain for the CPU. A steady trickle still deletes every 10 s.
      const now = performance.now();
      this.deleteFirstPending ??= now;
      clearTimeout(this.deleteIdle);
      const wait = Math.min(DELETE_DELAY_MS, Math.max(0, this.deleteFirstPending + DELETE_MAX_DELAY_MS - now));
      this.deleteIdle = setTimeout(() => { this.deleteIdle = undefined; this.deleteNow(); }, wait);
      this.deleteIdle.unref();
      return;
    }
    this.deleteNow();
  }

  private deleteNow(): void {
    this.deleteFirstPending = undefined;
    if (this.deleting || this.closed || this.diskFull || this.ackedSeq <= this.deletedSeq || this.checkpointer.busyDeleting()) return;
    clearTimeout(this.deleteIdle);
    this.deleteIdle = undefined;
    // In the worker first: the deletes (b-tree, index and pointer-map pages) are the drain's
    // biggest cost after reading. Without a worker, small chunks here, one per loop turn.
    const upto = this.ackedSeq;
    const bytes = this.ackedBytesPending;
    const sent = this.checkpointer.delete(this.deletedSeq, upto, this.lastSeq, (ok) => {
      this.walDirty = true; // the worker's deletes wrote WAL frames too
      if (ok) {
        this.deletedSeq = Math.max(this.deletedSeq, upto);
        this.ackedBytesPending = Math.max(0, this.ackedBytesPending - bytes);
      }
      if (!this.closed && ok) this.scheduleDelete();
    });
    if (sent) return;
    this.deleting = setImmediate(() => {
      this.deleting = undefined;
      if (this.closed || this.diskFull) return; // makeRoom() deletes them all when the disk is full
      if (this.walGate('delete')) return;
      const to = Math.min(this.ackedSeq, this.deletedSeq + DELETE_CHUNK);
      // last_seq goes with it: once the table is empty, seq must not restart after a reopen.
      const err = this.tryWrite(() => { this.st.delUpto.run(to); this.st.metaSet.run('last_seq', this.lastSeq); });
      if (err) return isBusy(err) ? undefined : this.enterDiskFull(err);
      this.deletedSeq = to;
      if (to === this.ackedSeq) this.ackedBytesPending = 0;
      this.afterWrite();
      this.deleteNow();
    });
  }

  /**
   * Past its limit the WAL would only grow: a checkpoint that runs while commits keep coming
   * never catches up, and SQLite restarts the WAL only once all of it is copied back. So writes
   * wait (in memory, the loop free) for the worker's checkpoint; the next commit then restarts
   * the WAL and journal_size_limit trims it. Returns true when `who` will be called again.
   */
  private walGate(who: 'drain' | 'delete'): boolean {
    if (this.gated) { this.gateWaiting.add(who); return true; }
    if (this.passGate) return false;
    if (fileSize(`${this.opts.path}-wal`) <= this.walLimit) return false;
    this.gated = true;
    this.gateWaiting.add(who);
    const ok = this.checkpointer.request(() => {
      this.gated = false;
      this.passGate = true;
      const waiting = [...this.gateWaiting];
      this.gateWaiting.clear();
      if (this.closed) return;
      for (const w of waiting) if (w === 'drain') this.drain(); else this.deleteNow();
    });
    if (ok) return true;
    this.gateWaiting.clear();
    this.gated = false;
    try { this.db.exec('PRAGMA wal_checkpoint(PASSIVE)'); } catch (err) { this.log.warn({ err }, 'outbox checkpoint failed'); }
    return false;
  }

  /** After a write: ask the worker for a checkpoint once the WAL passes half its limit. */
  private afterWrite(): void {
    this.walDirty = true;
    if (fileSize(`${this.opts.path}-wal`) > this.walLimit / 2) this.checkpointer.request();
  }

  private adaptWalLimit(): void {
    const limit = this.free === undefined ? this.walMax : Math.min(this.walMax, Math.max(64 << 10, Math.floor(this.free / 8)));
    if (limit === this.walLimit) return;
    this.walLimit = limit;
    try { this.db.exec(`PRAGMA journal_size_limit=${limit}`); } catch (err) { this.log.warn({ err }, 'outbox journal_size_limit failed'); }
  }

  private tryWrite(fn: () => void): Error | undefined {
    try {
      this.db.exec('BEGIN');
      fn();
      this.db.exec('COMMIT');
      this.passGate = false;
      return undefined;
    } catch (err) {
      // SQLITE_FULL usually rolls the transaction back by itself; make sure of it.
      try { if (this.db.isTransaction) this.db.exec('ROLLBACK'); } catch (rbErr) { this.log.error({ err: rbErr }, 'outbox rollback failed'); }
      return err as Error;
    }
  }

  // ---- memory bound, lane, disk full ----

  /** Drop the oldest queued records while the queue is over its memory bound (never the lane). */
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
      settleAll(r, reason, this.opts.path);
    }
    this.qBytes -= b;
    this.metaDirty = true;
    this.drops.add(reason, n, b);
    if (this.qHead > 4096 && this.qHead * 2 > this.q.length) { this.q = this.q.slice(this.qHead); this.qHead = 0; }
  }

  private dropLane(reason: DropReason): void {
    const b = this.laneBytes();
    for (const r of this.lane) settleAll(r, reason, this.opts.path);
    this.drops.add(reason, this.lane.length, b);
    this.lane = [];
  }

  private laneBytes(): number {
    let b = 0;
    for (const r of this.lane) b += r.bytes;
    return b;
  }

  /** Merge repeats in the lane (lane.ts); merged entries settle with the entry that carries them. */
  private coalesceLane(): void {
    const { into, evicted } = coalesce(this.lane.map((e) => ({ rec: e.rec! })));
    if (into.size === 0 && evicted.length === 0) return;
    const gone = new Set([...into.keys(), ...evicted]);
    for (const [from, to] of into) {
      const carrier = this.lane[to];
      (carrier.also ??= []).push(this.lane[from].t, ...(this.lane[from].also ?? []));
    }
    for (const to of new Set(into.values())) {
      const e = this.lane[to];
      e.json = JSON.stringify(e.rec);
      e.bytes = Buffer.byteLength(e.json);
    }
    let nb = 0;
    for (const i of evicted) { nb += this.lane[i].bytes; settleAll(this.lane[i], 'memory', this.opts.path); }
    if (evicted.length > 0) { this.drops.add('memory', evicted.length, nb); this.metaDirty = true; }
    this.lane = this.lane.filter((_, i) => !gone.has(i));
  }

  /** The worker holds the write lock for one delete chunk: try again shortly. Anything else: disk full. */
  private writeFailed(err: Error): void {
    if (!isBusy(err)) return this.enterDiskFull(err);
    this.flushTimer ??= setTimeout(() => this.drain(), 2);
  }

  private enterDiskFull(err: Error): void {
    const errcode = sqliteErrcode(err);
    const wasFull = this.diskFull;
    this.diskFull = true;
    // The reserve goes at once: the checkpoint and the acked deletes need room to run.
    if (this.reserve.release()) this.log.warn({ bytes: this.reserve.bytes }, 'outbox released its reserve file');
    this.recoverSpace();
    if (wasFull) return;
    const held = this.q.length - this.qHead + this.lane.length;
    this.log.error({ err, errcode, held, heldBytes: this.qBytes }, 'outbox cannot write to disk; holding records in memory');
    this.emitEvent('outbox.disk_full', 'critical', { errcode, error: err.message, held, heldBytes: this.qBytes, fsFreeBytes: freeBytes(this.dir) }, 'raise');
  }

  /** Full disk: apply the acked deletes, give free pages back and empty the WAL into the database. */
  private recoverSpace(): void {
    try {
      if (this.ackedSeq > this.deletedSeq && !this.tryWrite(() => this.st.delUpto.run(this.ackedSeq))) { this.deletedSeq = this.ackedSeq; this.ackedBytesPending = 0; }
      this.db.exec('PRAGMA incremental_vacuum');
      this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.debug({ err }, 'outbox space recovery incomplete');
    }
  }

  /**
   * While full: records are written again only once the reserve could be made again (there is
   * room for it and twice as much), so a store that just freed its reserve does not fill it
   * with records and flap.
   */
  private makeRoom(): boolean {
    this.recoverSpace();
    this.free = freeBytes(this.dir);
    this.freeAt = performance.now();
    if (this.reserve.state === 'released' && !this.reserve.make(this.free)) return false;
    return true;
  }

  private leaveDiskFull(): void {
    this.diskFull = false;
    this.log.info({ depth: this.diskCount }, 'outbox writes to disk again');
    this.emitEvent('outbox.disk_full', 'critical', { depth: this.diskCount, fsFreeBytes: freeBytes(this.dir) }, 'clear');
    this.scheduleDelete();
  }

  private emitEvent<T extends 'outbox.disk_full' | 'outbox.dead_letter'>(type: T, severity: WaysideEvent['severity'], data: EventPayloads[T], state?: 'raise' | 'clear'): void {
    try {
      this.onEvent?.({ id: this.newId(), type, severity, ts: this.now(), ...(state ? { state } : {}), data });
    } catch (err) {
      this.log.error({ err }, 'outbox event listener failed');
    }
  }

  // ---- periodic work ----

  private maintain(force: boolean): void {
    this.lastMaintenance = performance.now();
    try {
      maintainFile(this.db, force, (pages) => this.checkpointer.vacuum(pages));
    } catch (err) {
      if (!isBusy(err as Error)) this.log.warn({ err }, 'outbox maintenance failed');
    }
  }

  private tick(): void {
    if (this.closed) return;
    try {
      this.free = freeBytes(this.dir);
      this.freeAt = performance.now();
      this.adaptWalLimit();
      if (this.diskFull) this.drain();
      else {
        if (this.reserve.state === 'released') this.reserve.make(this.free);
        if (this.q.length === this.qHead && this.lane.length === 0 && this.oldestTs !== undefined && this.oldestTs < this.now() - this.opts.maxAgeMs) {
          const err = this.writeGroup(this.q, this.qHead, this.qHead); // an empty group = age sweep only
          if (err) this.log.warn({ err }, 'outbox age sweep failed');
        }
        // Only when something was written since the last complete checkpoint: an idle store leaves
        // the worker idle (and retired), instead of checkpointing an already copied WAL every second.
        if (this.walDirty && fileSize(`${this.opts.path}-wal`) > 0) {
          this.walDirty = false;
          const ok = this.checkpointer.request(() => {
            const r = this.checkpointer.last as { ok?: boolean; log?: number; done?: number } | undefined;
            if (!r?.ok || (r.log ?? 0) > (r.done ?? 0)) this.walDirty = true; // busy or partial: again next tick
          });
          if (!ok) this.walDirty = true;
        }
        if (performance.now() - this.lastMaintenance > MAINTENANCE_EVERY_MS) this.maintain(false);
      }
    } catch (err) {
      this.log.error({ err }, 'outbox tick failed');
    }
  }
}

/** SQLITE_BUSY (any extended code): another connection (the housekeeping worker) is writing. */
function isBusy(err: Error): boolean {
  const c = sqliteErrcode(err);
  return c !== undefined && (c & 0xff) === 5;
}

/** Settle one record of a ticket, and the coalesced lane records it carries. */
function settleAll(r: Queued, dropped: DropReason | undefined, path: string, error?: Error): void {
  settle(r.t, dropped, path, error);
  for (const t of r.also ?? []) settle(t, dropped, path, error);
}

function settle(t: Ticket, dropped: DropReason | undefined, path: string, error?: Error): void {
  if (dropped) { t.dropped++; t.reason ??= dropped; }
  if (error) t.error ??= error;
  if (--t.left > 0) return;
  if (t.dropped > 0) t.reject(new OutboxDroppedError(t.reason!, t.dropped, path));
  else if (t.error) t.reject(t.error);
  else t.resolve();
}
