// Outbox store benchmark: the real outbox (group commit, durable appends) against a plain
// node:sqlite batched insert of the same records with the same pragmas and group size.
// Run: PATH=$PWD/node_modules/.bin:$PATH tsx bench/store.bench.ts   (last line: one JSON object)
import { mkdtempSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../runtime/log.ts';
import { applyPragmas, openOutbox, SCHEMA } from '../runtime/outbox/index.ts';
import { makeRecords, recordBytes, recordMaker } from '../test/support/outbox/test-records.ts';
import type { OutRecord } from '../runtime/types.ts';

const N = Number(process.env.STORE_BENCH_RECORDS ?? 200_000);
const CHUNK = 100; // records per append() call, like the agent's summarizer flush
const CONCURRENCY = 32; // append() calls in flight
const ROUNDS = 3;
const MAX_BYTES = 1 << 30;
const WAL_LIMIT = 4 << 20; // what openOutbox derives from MAX_BYTES

const dir = mkdtempSync(join(tmpdir(), 'wayside-store-bench-'));
const records = makeRecords(recordMaker(), N);
const avgBytes = records.slice(0, 1000).reduce((a, r) => a + recordBytes(r), 0) / 1000;

async function appendAndDrain(round: number): Promise<{ append: number; drain: number; group: number }> {
  const box = openOutbox({ path: join(dir, `outbox-${round}.db`), maxBytes: MAX_BYTES, maxAgeMs: 86_400_000 }, { log: silentLog() });
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const chunk = records.slice(next, next + CHUNK);
      next += CHUNK;
      await box.append(chunk);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const appendS = (performance.now() - t0) / 1000;
  const cs = box.commitStats();
  if (box.stats().depth !== N) throw new Error(`expected ${N} stored, got ${box.stats().depth}`);

  const t1 = performance.now();
  let drained = 0;
  for (;;) {
    const page = box.peek(1000);
    if (page.length === 0) break;
    drained += page.length;
    box.ack(page[page.length - 1].seq);
  }
  const drainS = (performance.now() - t1) / 1000;
  if (drained !== N) throw new Error(`drained ${drained} of ${N}`);
  await box.close();
  return { append: N / appendS, drain: N / drainS, group: cs.records / cs.commits };
}

/** Plain batched insert: same schema and pragmas, one prepared statement, BEGIN/COMMIT per group. */
function raw(round: number, group: number, withTsIndex: boolean): number {
  const db = new DatabaseSync(join(dir, `raw-${round}-${withTsIndex}.db`));
  applyPragmas(db, { walLimitBytes: WAL_LIMIT, sync: 'full' });
  db.exec(withTsIndex ? SCHEMA : SCHEMA.replace(/CREATE INDEX[^;]*;/, ''));
  const insert = db.prepare('INSERT INTO outbox(seq, id, kind, ts, bytes, json) VALUES (?, ?, ?, ?, ?, ?)');
  const t0 = performance.now();
  let seq = 0;
  for (let i = 0; i < N; i += group) {
    db.exec('BEGIN');
    const end = Math.min(N, i + group);
    for (let j = i; j < end; j++) {
      const r: OutRecord = records[j];
      const json = JSON.stringify(r); // the outbox serializes too: same work per record
      insert.run(++seq, r.id, r.kind, r.ts, Buffer.byteLength(json), json);
    }
    db.exec('COMMIT');
  }
  const s = (performance.now() - t0) / 1000;
  db.close();
  return N / s;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

try {
  const res = { append: [] as number[], drain: [] as number[], raw: [] as number[], rawNoIndex: [] as number[], group: 0 };
  // Rounds interleave store and raw runs so disk noise (fsync latency varies a lot on shared
  // disks) hits both alike; medians are reported.
  for (let round = 0; round < ROUNDS; round++) {
    const a = await appendAndDrain(round);
    const group = Math.max(1, Math.round(a.group));
    const r = raw(round, group, true);
    const rn = raw(round, group, false);
    console.log(`round ${round}: append ${a.append.toFixed(0)}/s (mean group ${a.group.toFixed(0)} records), drain ${a.drain.toFixed(0)}/s, raw ${r.toFixed(0)}/s, raw without ts index ${rn.toFixed(0)}/s`);
    res.append.push(a.append); res.drain.push(a.drain); res.raw.push(r); res.rawNoIndex.push(rn); res.group = group;
  }
  const m = { append: median(res.append), drain: median(res.drain), raw: median(res.raw), rawNoIndex: median(res.rawNoIndex) };
  console.log(`records ${N} of ~${avgBytes.toFixed(0)} B, appends of ${CHUNK} with ${CONCURRENCY} in flight, store: WAL + async fdatasync, raw: WAL + synchronous=FULL, median of ${ROUNDS}`);
  console.log(`append_per_s ${m.append.toFixed(0)}  drain_per_s ${m.drain.toFixed(0)}  raw_per_s ${m.raw.toFixed(0)} (group ${res.group})  ratio ${(m.append / m.raw).toFixed(2)}`);
  console.log(`(raw without the ts index used by the age cap: ${m.rawNoIndex.toFixed(0)}/s)`);
  console.log(JSON.stringify({
    bench: 'store', records: N, append_per_s: Math.round(m.append), drain_per_s: Math.round(m.drain),
    raw_per_s: Math.round(m.raw), ratio: Number((m.append / m.raw).toFixed(3)),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
