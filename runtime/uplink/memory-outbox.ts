// An in-memory Outbox: same contract as the SQLite one (runtime/outbox), no durability.
// Used by unit tests and as the benchmark fallback; also a reference for the interface.
import type { Outbox, OutboxStats, OutRecord, StoredRecord } from '../types.ts';

export interface MemoryOutboxOptions {
  /** Drop the oldest records when the stored JSON exceeds this many bytes (default: unbounded). */
  maxBytes?: number;
}

export interface MemoryOutbox extends Outbox {
  /** Every seq passed to ack(), in call order (tests check the uplink never acks early). */
  readonly ackCalls: number[];
}

export function createMemoryOutbox(opts: MemoryOutboxOptions = {}): MemoryOutbox {
  // Records live in one array with a moving head: ack is O(acked), compaction is amortized.
  let recs: StoredRecord[] = [];
  let head = 0;
  let nextSeq = 1;
  let bytes = 0;
  let appended = 0;
  let acked = 0;
  let dropped = 0;
  const droppedByReason: Record<string, number> = {};
  const ackCalls: number[] = [];
  let closed = false;

  const compact = () => {
    if (head > 4096 && head * 2 > recs.length) {
      recs = recs.slice(head);
      head = 0;
    }
  };

  // First index >= head whose seq > after (seqs are increasing, so binary search).
  const indexAfter = (after: number): number => {
    let lo = head;
    let hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (recs[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  return {
    ackCalls,
    async append(records: OutRecord[]): Promise<void> {
      if (closed) throw new Error('outbox closed');
      for (const r of records) {
        const json = JSON.stringify(r);
        recs.push({ seq: nextSeq++, id: r.id, kind: r.kind, ts: r.ts, json });
        bytes += json.length;
        appended++;
      }
      if (opts.maxBytes !== undefined) {
        while (bytes > opts.maxBytes && head < recs.length) {
          bytes -= recs[head].json.length;
          head++;
          dropped++;
          droppedByReason.full = (droppedByReason.full ?? 0) + 1;
        }
        compact();
      }
    },
    peek(n: number, afterSeq?: number): StoredRecord[] {
      const start = afterSeq === undefined ? head : indexAfter(afterSeq);
      return recs.slice(start, start + n);
    },
    ack(uptoSeq: number): void {
      ackCalls.push(uptoSeq);
      while (head < recs.length && recs[head].seq <= uptoSeq) {
        bytes -= recs[head].json.length;
        head++;
        acked++;
      }
      compact();
    },
    stats(): OutboxStats {
      const depth = recs.length - head;
      return {
        depth,
        bytes,
        oldestAgeMs: depth ? Math.max(0, Date.now() - recs[head].ts) : 0,
        dropped,
        droppedByReason: { ...droppedByReason },
        memoryHeld: depth,
        diskFull: false,
        fileBytes: 0,
        appended,
        acked,
      };
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}
