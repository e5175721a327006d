// Caps of the sqlite outbox: bytes with both full policies, age, persisted drop counters,
// and coalesced outbox.dropped events.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_VALID_TIME } from '../clock.ts';
import { OutboxDroppedError } from './errors.ts';
import { makeRecords, recordBytes, recordMaker, type RecordMaker } from '../../test/support/outbox/test-records.ts';
import { openTestBox, tempDir, track, until } from '../../test/support/outbox/testkit.ts';

let tmp: ReturnType<typeof tempDir>;
let rec: RecordMaker;
beforeEach(() => { tmp = tempDir(); rec = recordMaker(); });
afterEach(() => tmp.cleanup());

const size = recordBytes(recordMaker()(Date.now())); // every test record has this size

describe('byte cap', () => {
  it('drop-oldest keeps the newest records under the cap and counts what it dropped', async () => {
    const { box } = openTestBox(tmp.dir, { maxBytes: 50 * size });
    const all = makeRecords(rec, 120);
    for (let i = 0; i < all.length; i += 10) await box.append(all.slice(i, i + 10)); // every append resolves
    const s = box.stats();
    expect(s.bytes).toBeLessThanOrEqual(50 * size);
    expect(s.depth).toBe(50);
    expect(box.peek(100).map((r) => r.id)).toEqual(all.slice(70).map((r) => r.id));
    expect(s.dropped).toBe(70);
    expect(s.droppedByReason).toEqual({ full: 70 });
    await box.close();
  });

  it('drop-oldest never drops the agent\'s own events (the lane): a stored disk-full raise stays with its clear', async () => {
    const { box } = openTestBox(tmp.dir, { maxBytes: 50 * size });
    const ev = (state: 'raise' | 'clear') => {
      const id = `disk-${state}`;
      return { id, kind: 'event' as const, ts: Date.now(), body: { id, type: 'outbox.disk_full', severity: 'critical' as const, ts: Date.now(), state, data: {} } };
    };
    await box.append([ev('raise')]);
    const all = makeRecords(rec, 120);
    for (let i = 0; i < all.length; i += 10) await box.append(all.slice(i, i + 10));
    await box.append([ev('clear')]);
    const ids = box.peek(200).map((r) => r.id);
    expect(ids[0]).toBe('disk-raise');
    expect(ids.at(-1)).toBe('disk-clear');
    expect(ids.slice(1, -1)).toEqual(all.slice(all.length - ids.length + 2).map((r) => r.id));
    expect(box.stats().bytes).toBeLessThanOrEqual(50 * size);
    await box.close();
  });

  it('drop-oldest: an append larger than the cap itself rejects with the count of its dropped records', async () => {
    const { box } = openTestBox(tmp.dir, { maxBytes: 10 * size });
    const all = makeRecords(rec, 25);
    const err = await box.append(all).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxDroppedError);
    expect(err).toMatchObject({ reason: 'full', count: 15 });
    expect(box.peek(100).map((r) => r.id)).toEqual(all.slice(15).map((r) => r.id));
    await box.close();
  });

  it('drop-newest refuses records that do not fit and keeps the oldest', async () => {
    const { box } = openTestBox(tmp.dir, { maxBytes: 30 * size, whenFull: 'drop-newest' });
    const first = makeRecords(rec, 25);
    await box.append(first);
    const second = makeRecords(rec, 10);
    const err = await box.append(second).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'OutboxDroppedError', reason: 'full', count: 5 });
    await expect(box.append(makeRecords(rec, 3))).rejects.toBeInstanceOf(OutboxDroppedError);
    expect(box.peek(100).map((r) => r.id)).toEqual([...first, ...second.slice(0, 5)].map((r) => r.id));
    expect(box.stats()).toMatchObject({ depth: 30, dropped: 8, droppedByReason: { full: 8 } });
    // acks make room again
    box.ack(box.peek(10)[9].seq);
    await box.append(makeRecords(rec, 10));
    expect(box.stats().depth).toBe(30);
    await box.close();
  });
});

describe('age cap', () => {
  it('drops records older than maxAgeMs by ts, on the timer and before a write', async () => {
    let now = MIN_VALID_TIME + 1_000_000;
    const { box } = openTestBox(tmp.dir, { maxAgeMs: 10_000 }, () => now);
    await box.append([rec(now - 9_000), rec(now - 5_000), rec(now)]);
    expect(box.stats().oldestAgeMs).toBe(9_000);
    now += 2_000; // the first is now 11 s old
    await until(() => box.stats().depth === 2, 'age sweep on the timer');
    expect(box.stats()).toMatchObject({ oldestAgeMs: 7_000, droppedByReason: { age: 1 } });
    now += 6_000; // the second is 13 s old; an append sweeps it in the same transaction
    const fresh = rec(now);
    await box.append([fresh]);
    expect(box.peek(10).map((r) => JSON.parse(r.json).ts)).toEqual([now - 8_000, now]);
    expect(box.stats().droppedByReason).toEqual({ age: 2 });
    await box.close();
  });

  it('keeps records stamped before the clock was trusted (unknown age); only the size cap bounds them', async () => {
    let now = 5_000; // a gateway without RTC boots in 1970
    const { box } = openTestBox(tmp.dir, { maxAgeMs: 10_000 }, () => now);
    const early = [rec(now), rec(now + 1)];
    await box.append(early);
    now = MIN_VALID_TIME + 86_400_000; // NTP synced: the early stamps look 56 years old
    const fresh = rec(now);
    await box.append([fresh]);
    await new Promise((r) => setTimeout(r, 1200)); // a sweep tick
    expect(box.peek(10).map((r) => r.id)).toEqual([...early, fresh].map((r) => r.id));
    expect(box.stats().dropped).toBe(0);
    await box.close();
  });
});

describe('drop accounting', () => {
  it('drop counters survive a restart', async () => {
    let t = openTestBox(tmp.dir, { maxBytes: 5 * size });
    await t.box.append(makeRecords(rec, 5));
    await t.box.append(makeRecords(rec, 3));
    await t.box.close();
    t = openTestBox(tmp.dir, { maxBytes: 5 * size });
    expect(t.box.stats()).toMatchObject({ depth: 5, dropped: 3, droppedByReason: { full: 3 } });
    await t.box.append(makeRecords(rec, 1));
    expect(t.box.stats().droppedByReason).toEqual({ full: 4 });
    await t.box.close();
  });

  it('a flood of drops yields at most about one outbox.dropped event a second, with exact totals', async () => {
    const { box, events } = openTestBox(tmp.dir, { maxBytes: 20 * size });
    const t0 = performance.now();
    const results: ReturnType<typeof track>[] = [];
    let bytesIn = 0;
    while (performance.now() - t0 < 1_500) {
      const recs = makeRecords(rec, 10);
      bytesIn += recs.reduce((a, r) => a + recordBytes(r), 0);
      results.push(track(box.append(recs)));
      await new Promise((r) => setTimeout(r, 2));
    }
    await until(() => results.every((r) => r.state !== 'pending'), 'appends');
    const bytesKept = box.stats().bytes;
    // A group bigger than the cap drops the head of the group itself: those appends reject, typed.
    for (const r of results) if (r.state !== 'resolved') expect(r.state).toMatchObject({ name: 'OutboxDroppedError', reason: 'full' });
    await box.close(); // flushes the last coalesced event
    const elapsedS = (performance.now() - t0) / 1000;
    const dropped = events.filter((e) => e.type === 'outbox.dropped');
    expect(dropped.length).toBeGreaterThanOrEqual(1);
    expect(dropped.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
    expect(dropped.reduce((a, e) => a + (e.data.count as number), 0)).toBe(results.length * 10 - 20);
    expect(dropped.reduce((a, e) => a + (e.data.bytes as number), 0)).toBe(bytesIn - bytesKept);
    expect(dropped[0]).toMatchObject({ severity: 'warning', data: { reason: 'full' } });
  });
});
