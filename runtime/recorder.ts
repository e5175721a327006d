// The recorder is the one bus consumer that writes to the outbox: summaries, events, and
// the raw readings of points whose publish mode is 'raw' or 'both'. It gathers everything
// emitted in one tick into one append (the outbox group-commits on top of that).
import type { PointPolicy } from './summarizer.ts';
import type { Bus, Log, Outbox, OutRecord } from './types.ts';

export interface RecorderDeps {
  bus: Bus;
  log: Log;
  outbox: Outbox;
  policy: (device: string, point: string) => PointPolicy;
  /** Called after records became durable (the uplink sends them). */
  onDurable?: () => void;
  /**
   * Record ids, stamped from the agent clock (ctx.newId). Never from the record's own ts: one
   * bad payload timestamp would push every later id into the future.
   */
  newId: () => string;
  /** Diagnostics: called with every batch once durable (the crash test journals ids with it). */
  journal?: (records: OutRecord[]) => void;
}

export interface Recorder {
  start(): void;
  /** Waits until everything recorded so far is durable (or dropped). */
  flush(): Promise<void>;
  stop(): Promise<void>;
  stats(): { recorded: number; durable: number; failed: number };
}

export function createRecorder(deps: RecorderDeps): Recorder {
  const log = deps.log.child({ mod: 'recorder' });
  let pending: OutRecord[] = [];
  let scheduled = false;
  const inFlight = new Set<Promise<void>>();
  const counts = { recorded: 0, durable: 0, failed: 0 };

  const push = (rec: OutRecord) => {
    pending.push(rec);
    counts.recorded++;
    if (!scheduled) {
      scheduled = true;
      setImmediate(write);
    }
  };

  function write(): void {
    scheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const p = deps.outbox.append(batch).then(
      () => {
        counts.durable += batch.length;
        deps.journal?.(batch);
        deps.onDurable?.();
      },
      (err: unknown) => {
        // Dropped by the outbox under pressure (already counted and evented there).
        counts.failed += batch.length;
        log.warn({ err, records: batch.length }, 'records not stored');
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  return {
    start() {
      deps.bus.on('summary', 'recorder', (s) => push({ id: deps.newId(), kind: 'summary', ts: s.end, body: s }));
      deps.bus.on('event', 'recorder', (e) => push({ id: e.id, kind: 'event', ts: e.ts, body: e }));
      deps.bus.on('reading', 'recorder', (r) => {
        const mode = deps.policy(r.device, r.point).mode;
        if (mode === 'raw' || mode === 'both' || typeof r.value === 'string') {
          push({ id: deps.newId(), kind: 'reading', ts: r.ts, body: r });
        }
      });
    },
    async flush() {
      write();
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    async stop() {
      deps.bus.off('recorder');
      await this.flush();
    },
    stats: () => ({ ...counts }),
  };
}
