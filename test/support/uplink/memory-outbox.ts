// An in-memory Outbox for uplink tests: same contract as the SQLite one (it runs the same
// outboxSuite, test/support/outbox/abstract-suite.ts), no durability.
import type { Outbox, OutboxStats, OutRecord, StoredRecord } from '../../../runtime/types.ts';

export interface MemoryOutboxOptions {
  /** Drop the oldest records when the stored JSON exceeds this many bytes (default: unbounded). */
  maxBytes?: number;
  /** State to reopen (what a previous outbox's `data` held): the contract suite's "reopen" step. */
  data?: MemoryOutboxData;
}

/** Everything the outbox holds; survives close() so a test can reopen it. */
export interface MemoryOutboxData {
  recs: StoredRecord[];
  head: number;
  nextSeq: number;
  bytes: number;
  appended: number;
  acked: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  setAside: { record: StoredRecord; reason: string }[];
}

export interface MemoryOutbox extends Outbox {
  /** Every seq passed to ack(), in call order (tests check the uplink never acks early). */
  readonly ackCalls: number[];
  readonly data: MemoryOutboxData;
}

export function createMemoryOutbox(opts: MemoryOutboxOptions = {}): MemoryOutbox {
  // Records live in one array with a moving head: ack is O(acked), compaction is amortized.
  const d: MemoryOutboxData = opts.data ?? {
    recs: [], head: 0, nextSeq: 1, bytes: 0, appended: 0, acked: 0, dropped: 0, droppedByReason: {}, setAside: [],
  };
  const ackCalls: number[] = [];
  let closed = false;

  const compact = () => {
    if (d.head > 4096 && d.head * 2 > d.recs.length) {
      d.recs = d.recs.slice(d.head);
      d.head = 0;
    }
  };

  // First index >= head whose seq > after (seqs are increasing, so binary search).
  const indexAfter = (after: number): number => {
    let lo = d.head;
    let hi = d.recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (d.recs[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const check = () => { if (closed) throw new Error('outbox closed'); };

  return {
    ackCalls,
    data: d,
    async append(records: OutRecord[]): Promise<void> {
      check();
      for (const r of records) {
        const json = JSON.stringify(r);
        d.recs.push({ seq: d.nextSeq++, id: r.id, kind: r.kind, ts: r.ts, json });
        d.bytes += Buffer.byteLength(json);
        d.appended++;
      }
      if (opts.maxBytes !== undefined) {
        while (d.bytes > opts.maxBytes && d.head < d.recs.length) {
          d.bytes -= Buffer.byteLength(d.recs[d.head].json);
          d.head++;
          d.dropped++;
          d.droppedByReason.full = (d.droppedByReason.full ?? 0) + 1;
        }
        compact();
      }
    },
    peek(n: number, afterSeq?: number): StoredRecord[] {
      check();
      const start = afterSeq === undefined ? d.head : indexAfter(afterSeq);
      return d.recs.slice(start, start + n);
    },
    ack(uptoSeq: number): void {
      ackCalls.push(uptoSeq);
      while (d.head < d.recs.length && d.recs[d.head].seq <= uptoSeq) {
        d.bytes -= Buffer.byteLength(d.recs[d.head].json);
        d.head++;
        d.acked++;
      }
      compact();
    },
    setAside(fromSeq: number, toSeq: number, reason: string): void {
      check();
      const keep: StoredRecord[] = [];
      for (let i = d.head; i < d.recs.length; i++) {
        const r = d.recs[i];
        if (r.seq >= fromSeq && r.seq <= toSeq) {
          d.setAside.push({ record: r, reason });
          d.bytes -= Buffer.byteLength(r.json);
        } else keep.push(r);
      }
      d.recs = keep;
      d.head = 0;
    },
    stats(): OutboxStats {
      const depth = d.recs.length - d.head;
      return {
        depth,
        bytes: d.bytes,
        oldestAgeMs: depth ? Math.max(0, Date.now() - d.recs[d.head].ts) : 0,
        dropped: d.dropped,
        droppedByReason: { ...d.droppedByReason },
        memoryHeld: 0,
        diskFull: false,
        fileBytes: 0,
        appended: d.appended,
        acked: d.acked,
        reserve: 'none',
        setAside: d.setAside.length,
      };
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}
