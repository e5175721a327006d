// The Outbox contract as a reusable vitest suite (after MQTT.js's abstract store tests):
// every outbox implementation runs it with its own factory. `make(dir)` must return an
// outbox stored in `dir`; called twice with the same dir it must reopen the same store.
// `durable: false` (the in-memory outbox) skips only the file-size expectation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Outbox, OutRecord } from '../../../runtime/types.ts';
import { makeRecords, recordBytes, recordMaker, type RecordMaker } from './test-records.ts';

export function outboxSuite(name: string, make: (dir: string) => Outbox | Promise<Outbox>, opts: { durable?: boolean } = {}): void {
  const durable = opts.durable ?? true;
  describe(`outbox contract: ${name}`, () => {
    let dir: string;
    let box: Outbox | undefined;
    let rec: RecordMaker;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-'));
      rec = recordMaker();
      box = await make(dir);
    });
    afterEach(async () => {
      await box?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const open = (): Outbox => box!;

    it('peek returns appended records in append order with increasing seq and the stored JSON', async () => {
      const a = makeRecords(rec, 3);
      const b = makeRecords(rec, 2);
      await open().append(a);
      await open().append(b);
      const got = open().peek(10);
      expect(got.map((r) => r.id)).toEqual([...a, ...b].map((r) => r.id));
      for (let i = 1; i < got.length; i++) expect(got[i].seq).toBeGreaterThan(got[i - 1].seq);
      const first = got[0];
      expect(JSON.parse(first.json)).toEqual(a[0]);
      expect(first).toMatchObject({ id: a[0].id, kind: a[0].kind, ts: a[0].ts });
    });

    it('concurrent appends are all durable when they resolve, each kept contiguous and in call order', async () => {
      const groups = Array.from({ length: 20 }, () => makeRecords(rec, 7));
      await Promise.all(groups.map((g) => open().append(g)));
      expect(open().peek(1000).map((r) => r.id)).toEqual(groups.flat().map((r) => r.id));
    });

    it('peek honours n and afterSeq', async () => {
      await open().append(makeRecords(rec, 10));
      const all = open().peek(100);
      expect(open().peek(3)).toEqual(all.slice(0, 3));
      expect(open().peek(4, all[5].seq)).toEqual(all.slice(6, 10));
      expect(open().peek(10, all[9].seq)).toEqual([]);
    });

    it('ack deletes every record up to and including the seq', async () => {
      await open().append(makeRecords(rec, 10));
      const all = open().peek(100);
      open().ack(all[3].seq);
      expect(open().peek(100)).toEqual(all.slice(4));
      open().ack(all[3].seq); // repeated ack is harmless
      open().ack(all[9].seq);
      expect(open().peek(100)).toEqual([]);
    });

    it('peek never returns acked records, even asked for an older afterSeq', async () => {
      await open().append(makeRecords(rec, 6));
      const all = open().peek(100);
      open().ack(all[2].seq);
      expect(open().peek(100, 0)).toEqual(all.slice(3));
      expect(open().peek(100, all[0].seq)).toEqual(all.slice(3));
      expect(open().peek(2, all[3].seq)).toEqual(all.slice(4, 6));
    });

    it('setAside takes records out of the queue for good, counts them, the rest keeps its order', async () => {
      await open().append(makeRecords(rec, 6));
      const all = open().peek(100);
      open().setAside(all[1].seq, all[2].seq, 'refused by the broker: 0x95');
      expect(open().peek(100)).toEqual([all[0], ...all.slice(3)]);
      expect(open().stats()).toMatchObject({ depth: 4, setAside: 2 });
      expect(open().stats().bytes).toBe(all.filter((_, i) => i !== 1 && i !== 2).reduce((a, r) => a + Buffer.byteLength(r.json), 0));
      open().ack(all[5].seq);
      expect(open().peek(100)).toEqual([]);
      expect(open().stats()).toMatchObject({ depth: 0, setAside: 2, acked: 4 });
      await open().close();
      box = await make(dir);
      expect(open().stats()).toMatchObject({ depth: 0, setAside: 2 });
    });

    it('an empty append resolves and stores nothing', async () => {
      await open().append([]);
      expect(open().peek(10)).toEqual([]);
      expect(open().stats().depth).toBe(0);
    });

    it('stats count depth, bytes, appended, acked and the oldest age', async () => {
      const now = Date.now();
      const recs = [rec(now - 5000), rec(now - 1000), rec(now)];
      await open().append(recs);
      let s = open().stats();
      expect(s.depth).toBe(3);
      expect(s.bytes).toBe(recs.reduce((a, r) => a + recordBytes(r), 0));
      expect(s.appended).toBe(3);
      expect(s.acked).toBe(0);
      expect(s.oldestAgeMs).toBeGreaterThanOrEqual(5000);
      expect(s.oldestAgeMs).toBeLessThan(60_000);
      expect(s.diskFull).toBe(false);
      expect(s.memoryHeld).toBe(0);
      expect(s.dropped).toBe(0);
      if (durable) expect(s.fileBytes).toBeGreaterThan(0);
      else expect(s.fileBytes).toBe(0);
      expect(s.setAside).toBe(0);
      open().ack(open().peek(1)[0].seq);
      s = open().stats();
      expect(s.depth).toBe(2);
      expect(s.bytes).toBe(recordBytes(recs[1]) + recordBytes(recs[2]));
      expect(s.acked).toBe(1);
      expect(s.oldestAgeMs).toBeLessThan(5000);
      open().ack(open().peek(10)[1].seq);
      s = open().stats();
      expect(s).toMatchObject({ depth: 0, bytes: 0, oldestAgeMs: 0, acked: 3 });
    });

    it('close flushes pending appends; reopen resumes unacked records and seq keeps increasing', async () => {
      const recs: OutRecord[] = makeRecords(rec, 5);
      const pending = open().append(recs);
      await open().close();
      await pending;
      box = await make(dir);
      const got = open().peek(10);
      expect(got.map((r) => r.id)).toEqual(recs.map((r) => r.id));
      expect(open().stats()).toMatchObject({ depth: 5, bytes: recs.reduce((a, r) => a + recordBytes(r), 0) });
      const lastSeq = got[4].seq;
      open().ack(lastSeq); // empty store: seq must still not restart
      await open().close();
      box = await make(dir);
      expect(open().stats().depth).toBe(0);
      await open().append(makeRecords(rec, 1));
      expect(open().peek(1)[0].seq).toBeGreaterThan(lastSeq);
    });

    it('append after close rejects', async () => {
      await open().close();
      await expect(open().append(makeRecords(rec, 1))).rejects.toThrow(/closed/);
      box = undefined;
    });
  });
}
