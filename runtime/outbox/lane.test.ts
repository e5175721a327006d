// The reserved lane: the agent's own events survive a long disk-full outage and a tiny memory
// bound (SQLITE_FULL simulated with max_page_count), coalesced, raise before clear.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutRecord, WaysideEvent } from '../types.ts';
import { makeRecords, recordMaker, type RecordMaker } from '../../test/support/outbox/test-records.ts';
import { openTestBox, tempDir, track, until } from '../../test/support/outbox/testkit.ts';
import { coalesce, isLaneRecord } from './lane.ts';

let tmp: ReturnType<typeof tempDir>;
let rec: RecordMaker;
beforeEach(() => { tmp = tempDir(); rec = recordMaker(); });
afterEach(() => tmp.cleanup());

let n = 0;
function ev(type: string, extra: Partial<WaysideEvent> = {}): OutRecord {
  const id = `ev-${++n}`;
  const body: WaysideEvent = { id, type, severity: 'warning', ts: Date.now(), data: {}, ...extra };
  return { id, kind: 'event', ts: body.ts, body };
}

describe('reserved lane', () => {
  it('takes outbox., uplink. and agent. events only', () => {
    expect(['outbox.dropped', 'uplink.duplicate_id', 'agent.started', 'device.offline', 'air.pm25_high'].map((t) => isLaneRecord(ev(t))))
      .toEqual([true, true, true, false, false]);
    expect(isLaneRecord(rec())).toBe(false);
  });

  it('coalesces drop summaries per reason and inner flaps; raise/clear pairs stay in order', () => {
    const lane = [
      ev('outbox.disk_full', { state: 'raise' }),
      ev('outbox.dropped', { data: { count: 5, reason: 'memory', bytes: 50 } }),
      ev('outbox.disk_full', { state: 'clear' }),
      ev('outbox.disk_full', { state: 'raise' }),
      ev('outbox.dropped', { data: { count: 7, reason: 'memory', bytes: 70 } }),
      ev('outbox.disk_full', { state: 'clear' }),
    ].map((rec) => ({ rec }));
    const { into, evicted } = coalesce(lane, 3);
    const kept = lane.filter((_, i) => !into.has(i) && !evicted.includes(i)).map((e) => e.rec.body as WaysideEvent);
    expect(kept.map((e) => `${e.type}:${e.state ?? ''}`)).toEqual(['outbox.disk_full:raise', 'outbox.dropped:', 'outbox.disk_full:clear']);
    expect(kept[1].data).toMatchObject({ count: 12, bytes: 120 });
    expect(kept[2].data).toMatchObject({ flaps: 1 });
  });

  it('the memory bound never evicts the lane: the raise and the drop summary reach the disk after the outage', async () => {
    const size = Buffer.byteLength(JSON.stringify(rec()));
    const { box } = openTestBox(tmp.dir, { maxPageCount: 80, memoryMaxBytes: 20 * size });
    // Fill the disk.
    for (let i = 0; i < 1000 && !box.stats().diskFull; i++) {
      const p = track(box.append(makeRecords(rec, 50)));
      await until(() => p.state !== 'pending' || box.stats().diskFull, 'append or disk full');
    }
    expect(box.stats().diskFull).toBe(true);
    const lastBefore = box.peek(100_000).at(-1)!.seq;
    const raise = ev('outbox.disk_full', { state: 'raise', severity: 'critical' });
    const lanes = track(box.append([raise, ev('outbox.dropped', { data: { count: 1, reason: 'memory', bytes: 1 } })]));
    // Far past the memory bound: 400 data records held against a bound of 20.
    const data = Array.from({ length: 8 }, () => track(box.append(makeRecords(rec, 50))));
    await until(() => data.slice(0, 7).every((d) => d.state !== 'pending'), 'old held data to be evicted');
    expect(box.stats().droppedByReason.memory).toBeGreaterThanOrEqual(350);
    expect(lanes.state).not.toBeInstanceOf(Error); // never evicted
    box.ack(lastBefore); // space comes back
    await until(() => lanes.state !== 'pending', 'the lane to reach the disk');
    expect(lanes.state).toBe('resolved');
    const stored = box.peek(100_000);
    expect(stored[0].id).toBe(raise.id); // the lane is written before the held data
    expect(stored.filter((r) => r.kind === 'event').length).toBe(2);
    await box.close();
  });
});
