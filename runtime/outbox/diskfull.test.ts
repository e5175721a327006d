// Disk full (SQLITE_FULL, simulated with PRAGMA max_page_count): the outbox holds records in
// bounded memory, raises outbox.disk_full once, retries, and writes the held records in order
// when space comes back (here: acks free pages).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutRecord } from '../types.ts';
import { OutboxDroppedError } from './errors.ts';
import type { SqliteOutbox } from './sqlite.ts';
import { makeRecords, recordMaker, type RecordMaker } from '../../test/support/outbox/test-records.ts';
import { openTestBox, tempDir, track, until } from '../../test/support/outbox/testkit.ts';

let tmp: ReturnType<typeof tempDir>;
let rec: RecordMaker;
beforeEach(() => { tmp = tempDir(); rec = recordMaker(); });
afterEach(() => tmp.cleanup());

/** Append chunks until the store reports disk full; returns every record appended (the last chunk is held). */
async function fillDisk(box: SqliteOutbox): Promise<{ sent: OutRecord[]; stuck: ReturnType<typeof track> }> {
  const sent: OutRecord[] = [];
  for (let i = 0; i < 1000; i++) {
    const chunk = makeRecords(rec, 50);
    sent.push(...chunk);
    const p = track(box.append(chunk));
    await until(() => p.state !== 'pending' || box.stats().diskFull, 'append or disk full');
    if (box.stats().diskFull) return { sent, stuck: p };
    expect(p.state).toBe('resolved');
  }
  throw new Error('disk never filled');
}

const diskFullEvents = (events: { type: string }[]) => events.filter((e) => e.type === 'outbox.disk_full');

describe('disk full', () => {
  it('holds appends in memory, raises once, and writes them in order when acks free space', async () => {
    const { box, events } = openTestBox(tmp.dir, { maxPageCount: 80 });
    const filled = await fillDisk(box);
    const later = [makeRecords(rec, 20), makeRecords(rec, 20)];
    const held = [filled.stuck, ...later.map((c) => track(box.append(c)))];
    await new Promise((r) => setTimeout(r, 300)); // several retry ticks while still full
    const s = box.stats();
    expect(s.diskFull).toBe(true);
    expect(s.memoryHeld).toBe(90);
    expect(held.map((h) => h.state)).toEqual(['pending', 'pending', 'pending']);
    expect(diskFullEvents(events)).toEqual([expect.objectContaining({ state: 'raise', severity: 'critical' })]);
    expect(diskFullEvents(events)[0]).toMatchObject({ data: { errcode: 13 } });

    const onDisk = box.peek(100_000);
    expect(s.depth).toBe(onDisk.length + 90);
    box.ack(onDisk[Math.floor(onDisk.length / 2)].seq); // frees pages: retried at once
    await until(() => held.every((h) => h.state === 'resolved'), 'held appends to reach disk');
    expect(box.stats()).toMatchObject({ diskFull: false, memoryHeld: 0 });
    expect(diskFullEvents(events).map((e) => (e as { state?: string }).state)).toEqual(['raise', 'clear']);
    const all = [...filled.sent, ...later.flat()];
    const rest = box.peek(100_000);
    expect(rest.map((r) => r.id)).toEqual(all.slice(all.length - rest.length).map((r) => r.id));
    expect(rest.length).toBe(all.length - Math.floor(onDisk.length / 2) - 1);
    await box.close();
  });

  it('bounds the memory hold: oldest held records are dropped (reason memory) and their appends reject', async () => {
    const one = makeRecords(recordMaker(), 1)[0];
    const size = Buffer.byteLength(JSON.stringify(one));
    const { box, events } = openTestBox(tmp.dir, { maxPageCount: 80, memoryMaxBytes: 120 * size });
    const filled = await fillDisk(box); // 50 held
    const chunks = [makeRecords(rec, 40), makeRecords(rec, 40), makeRecords(rec, 40)];
    const states = chunks.map((c) => track(box.append(c)));
    // 50 + 120 queued, bound 120: the first 50 (the stuck append) go.
    await until(() => filled.stuck.state !== 'pending', 'stuck append to be dropped');
    expect(filled.stuck.state).toBeInstanceOf(OutboxDroppedError);
    expect(filled.stuck.state).toMatchObject({ reason: 'memory', count: 50 });
    expect(box.stats()).toMatchObject({ memoryHeld: 120, droppedByReason: { memory: 50 } });
    box.ack(box.peek(100_000).at(-1)!.seq);
    await until(() => states.every((s) => s.state === 'resolved'), 'held appends to reach disk');
    expect(box.peek(1000).map((r) => r.id)).toEqual(chunks.flat().map((r) => r.id));
    await box.close();
    expect(events.filter((e) => e.type === 'outbox.dropped')).toEqual([
      expect.objectContaining({ severity: 'warning', data: { count: 50, reason: 'memory', bytes: 50 * size } }),
    ]);
  });

  it('close while the disk is still full rejects the held appends (reason closed) and does not throw', async () => {
    const { box } = openTestBox(tmp.dir, { maxPageCount: 80 });
    const filled = await fillDisk(box);
    await box.close();
    await until(() => filled.stuck.state !== 'pending', 'held append to settle');
    expect(filled.stuck.state).toMatchObject({ name: 'OutboxDroppedError', reason: 'closed', count: 50 });
  });
});
