// Drop accounting: counters per reason (persisted by the store in its meta table) and
// coalesced `outbox.dropped` events, so a flood of drops is one event a second, not one per record.
import type { Log, WaysideEvent } from '../types.ts';
import type { DropReason } from './errors.ts';

export const DROP_EVENT_INTERVAL_MS = 1000;

export class DropReporter {
  readonly byReason: Record<string, number> = {};
  total = 0;
  private pending = new Map<DropReason, { count: number; bytes: number }>();
  private timer: NodeJS.Timeout | undefined;
  private lastEmit = -Infinity;

  private readonly log: Log;
  private readonly now: () => number;
  private readonly onEvent?: (e: WaysideEvent) => void;
  private readonly newId: () => string;

  constructor(log: Log, now: () => number, newId: () => string, onEvent?: (e: WaysideEvent) => void) {
    this.log = log;
    this.now = now;
    this.newId = newId;
    this.onEvent = onEvent;
  }

  /** Counters read back from the meta table on open. */
  restore(reason: string, count: number): void {
    this.byReason[reason] = count;
    this.total += count;
  }

  add(reason: DropReason, count: number, bytes: number): void {
    if (count <= 0) return;
    this.byReason[reason] = (this.byReason[reason] ?? 0) + count;
    this.total += count;
    const p = this.pending.get(reason);
    if (p) { p.count += count; p.bytes += bytes; } else this.pending.set(reason, { count, bytes });
    if (!this.timer) {
      // Real time, not deps.now(): the rate limit protects the uplink even when a test freezes the clock.
      const delay = Math.max(0, this.lastEmit + DROP_EVENT_INTERVAL_MS - performance.now());
      this.timer = setTimeout(() => this.flush(), delay);
      this.timer.unref();
    }
  }

  /** Emit what is pending now (also called on close). */
  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.pending.size === 0) return;
    this.lastEmit = performance.now();
    for (const [reason, p] of this.pending) {
      this.log.warn({ reason, count: p.count, bytes: p.bytes }, 'outbox dropped records');
      const ev: WaysideEvent = {
        id: this.newId(), type: 'outbox.dropped', severity: 'warning', ts: this.now(),
        data: { count: p.count, reason, bytes: p.bytes },
      };
      try {
        this.onEvent?.(ev);
      } catch (err) {
        this.log.error({ err, type: ev.type }, 'outbox event listener failed');
      }
    }
    this.pending.clear();
  }
}
