// The sqlite outbox runs the shared Outbox contract suite; and its files are private.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { silentLog } from '../log.ts';
import type { OutRecord } from '../types.ts';
import { outboxSuite } from '../../test/support/outbox/abstract-suite.ts';
import { openOutbox } from './index.ts';
import { until } from '../../test/helpers/wait.ts';

outboxSuite('sqlite', (dir) =>
  openOutbox({ path: join(dir, 'outbox.db'), maxBytes: 64 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() }),
);

describe('files', () => {
  it('creates the database 0600 in a 0700 directory (the records are the gateway data)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-mode-'));
    try {
      const path = join(dir, 'state/sub/outbox.db');
      const box = openOutbox({ path, maxBytes: 1 << 20, maxAgeMs: 86_400_000, reserveBytes: 0 }, { log: silentLog() });
      await box.append([{ id: 'a', kind: 'event', ts: Date.now(), body: { id: 'a', type: 't', severity: 'info', ts: Date.now(), data: {} } }]);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'state/sub')).mode & 0o777).toBe(0o700);
      await box.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('housekeeping worker', () => {
  // Threads of this process by name (Linux): a worker_threads Worker shows as "WorkerThread".
  // A thread may end between the listing and the read: it is then not counted.
  const threadName = (t: string): string => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const workers = () => readdirSync('/proc/self/task').filter((t) => threadName(t) === 'WorkerThread').length;

  it('is ended when idle and made again for the next delete: a store at rest carries no second isolate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-idle-'));
    const box = openOutbox({ path: join(dir, 'outbox.db'), maxBytes: 1 << 20, maxAgeMs: 86_400_000, workerIdleMs: 300, reserveBytes: 0 }, { log: silentLog() });
    const rec = (i: number): OutRecord => ({ id: `r${i}`, kind: 'event', ts: Date.now(), body: { id: `r${i}`, type: 't', severity: 'info', ts: Date.now(), data: {} } });
    try {
      const before = workers();
      for (const round of [0, 1]) {
        await box.append([rec(2 * round), rec(2 * round + 1)]);
        const page = box.peek(10);
        box.ack(page.at(-1)!.seq);
        await until(() => workers() > before, 5_000, `round ${round}: the worker deletes the acked rows`);
        await until(() => workers() === before, 5_000, `round ${round}: the idle worker is ended`);
        // Nothing stored past the cursor: reading for the uplink needs no worker either.
        expect(await box.readBatches!(0, 100, 1 << 20, 4)).toEqual([]);
        expect(workers()).toBe(before);
      }
      expect(box.stats().depth).toBe(0);
    } finally {
      await box.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readBatches (the uplink reads off the main thread)', () => {
  it('cuts runs of one kind by count and bytes, joins the stored JSON, and skips acked records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-read-'));
    const box = openOutbox({ path: join(dir, 'outbox.db'), maxBytes: 64 << 20, maxAgeMs: 86_400_000 }, { log: silentLog() });
    try {
      const ev = (i: number, kind: 'event' | 'summary'): OutRecord => ({ id: `r${i}`, kind, ts: Date.now(), body: { id: `r${i}`, type: 't', severity: 'info', ts: Date.now(), data: { i } } });
      const recs = [...Array.from({ length: 7 }, (_, i) => ev(i, 'event')), ev(7, 'summary'), ...Array.from({ length: 3 }, (_, i) => ev(8 + i, 'event'))];
      await box.append(recs);
      const all = box.peek(100);
      box.ack(all[0].seq);
      const oneBytes = Buffer.byteLength(all[1].json);
      // At most 3 records, and bytes for 2 and a bit: the byte bound cuts first.
      const got = await box.readBatches(0, 3, 2 * oneBytes + 10, 10);
      expect(got.map((b) => [b.kind, b.count])).toEqual([['event', 2], ['event', 2], ['event', 2], ['summary', 1], ['event', 2], ['event', 1]]);
      expect(got[0]).toMatchObject({ firstSeq: all[1].seq, lastSeq: all[2].seq, json: `${all[1].json},${all[2].json}` });
      expect(got.flatMap((b) => JSON.parse(`[${b.json}]`) as OutRecord[]).map((r) => r.id)).toEqual(recs.slice(1).map((r) => r.id));
      expect(await box.readBatches(got[4].lastSeq, 500, 1 << 20, 10)).toMatchObject([{ firstSeq: all[10].seq, lastSeq: all[10].seq, count: 1 }]);
    } finally {
      await box.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('older files', () => {
  it('opens a file made before the reserved lane (no keep column) and keeps its records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wayside-outbox-old-'));
    const path = join(dir, 'outbox.db');
    try {
      const old = new DatabaseSync(path);
      old.exec('PRAGMA journal_mode=WAL');
      old.exec('CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, ts INTEGER NOT NULL, bytes INTEGER NOT NULL, json TEXT NOT NULL)');
      old.prepare('INSERT INTO outbox VALUES (7, ?, ?, ?, ?, ?)').run('old-1', 'event', 1, 2, '{}');
      old.close();
      const box = openOutbox({ path, maxBytes: 1 << 20, maxAgeMs: 86_400_000 * 365 * 100 }, { log: silentLog() });
      expect(box.peek(10).map((r) => [r.seq, r.id])).toEqual([[7, 'old-1']]);
      await box.append([{ id: 'new-1', kind: 'event', ts: Date.now(), body: { id: 'new-1', type: 't', severity: 'info', ts: Date.now(), data: {} } }]);
      expect(box.peek(10).map((r) => r.seq)).toEqual([7, 8]);
      await box.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
