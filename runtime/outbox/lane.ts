// The reserved lane: the events that explain the agent's own state (outbox.*, uplink.*, agent.*:
// disk full raise/clear, drop summaries, ...) wait for the disk in a small queue of their own that
// the memory bound never evicts. Repeats are coalesced so the lane stays small on a long outage;
// a raise and its clear always stay, in order.
import type { OutRecord } from '../types.ts';

export const LANE_PREFIXES = ['outbox.', 'uplink.', 'agent.'];
/** Lane entries before coalescing starts; each is a few hundred bytes. */
export const LANE_MAX = 64;

export function isLaneRecord(r: OutRecord): boolean {
  if (r.kind !== 'event') return false;
  const type = (r.body as { type?: unknown }).type;
  return typeof type === 'string' && LANE_PREFIXES.some((p) => type.startsWith(p));
}

export interface LaneEntry {
  /** The store's own parsed copy (coalescing edits it), never the caller's object. */
  rec: OutRecord;
}

interface Ev { type: string; state?: string; data?: Record<string, unknown> }
const ev = (e: LaneEntry) => e.rec.body as unknown as Ev;

/**
 * Shrink the lane in place; returns the indexes (in the old array) merged away, each with the
 * index of the entry that now carries it. Order: merge drop summaries of one reason into the
 * newest one, then remove the inner clear→raise pairs of a flapping alarm (raise ... clear
 * stays, the flap count goes into the clear), then, only if still over, the oldest entries.
 */
export function coalesce(lane: LaneEntry[], max = LANE_MAX): { into: Map<number, number>; evicted: number[] } {
  const into = new Map<number, number>();
  const newestDrop = new Map<string, number>();
  for (let i = lane.length - 1; i >= 0; i--) {
    const e = ev(lane[i]);
    if (e.type !== 'outbox.dropped') continue;
    const reason = String(e.data?.reason);
    const keep = newestDrop.get(reason);
    if (keep === undefined) { newestDrop.set(reason, i); continue; }
    const k = ev(lane[keep]).data!;
    k.count = Number(k.count ?? 0) + Number(e.data?.count ?? 0);
    k.bytes = Number(k.bytes ?? 0) + Number(e.data?.bytes ?? 0);
    into.set(i, keep);
  }
  // Flapping: raise, clear, raise, clear -> raise, clear (with flaps: 1).
  for (let i = 0; i < lane.length; i++) {
    if (into.has(i)) continue;
    const e = ev(lane[i]);
    if (e.state !== 'clear') continue;
    let j = i + 1;
    while (j < lane.length && (into.has(j) || ev(lane[j]).type !== e.type)) j++;
    if (j >= lane.length || ev(lane[j]).state !== 'raise') continue;
    let k = j + 1;
    while (k < lane.length && (into.has(k) || ev(lane[k]).type !== e.type)) k++;
    if (k >= lane.length || ev(lane[k]).state !== 'clear') continue;
    // i (clear) and j (raise) go; the later clear k carries them and counts the flap.
    const kd = (ev(lane[k]).data ??= {}) as Record<string, unknown>;
    kd.flaps = Number(kd.flaps ?? 0) + 1 + Number((e.data as Record<string, unknown> | undefined)?.flaps ?? 0);
    (lane[k].rec.body as unknown as Ev).data = kd;
    into.set(i, k);
    into.set(j, k);
  }
  const left = lane.length - into.size;
  const evicted: number[] = [];
  for (let i = 0, over = left - max; i < lane.length && over > 0; i++) {
    // A raise or a clear is never evicted: the pair must arrive whole (there are few alarm types).
    if (into.has(i) || ev(lane[i]).state) continue;
    evicted.push(i);
    over--;
  }
  return { into, evicted };
}
