// Every record the agent stores has a valid ULID id (26 Crockford base32 characters) and whole-ms
// timestamps: summaries (full and the partial ones a stop flushes), raw readings, rule events and
// events from a flow. Ids come from the agent clock: a reading stamped in microseconds does not
// push later ids into the future, and after a restart new ids sort after the old ones. The
// outbox is read back from its file after each stop, so stop-time records are included.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIdGen, idTime } from '../runtime/ids.ts';
import { silentLog } from '../runtime/log.ts';
import { openOutbox } from '../runtime/outbox/index.ts';
import { placeFlows, startFlowsAgent, waitFor } from './support/flows/testing.ts';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const CONFIG = `defaults: { publish: summaries, window: 1s }
devices:
  - { id: pole-sim, driver: sim, interval: 100ms, perPoint: { pm25: { publish: raw }, noise_db: { publish: both } } }
  - { id: meter, driver: panel, window: 60s, perPoint: { raw_v: { publish: raw } } }
rules:
  - { id: v-high, point: meter/voltage, above: 250, hysteresis: 5, severity: critical, event: power.overvoltage }
`;
const FLOW = [
  { id: 'f', type: 'tab' },
  { id: 'kick', type: 'inject', z: 'f', x: 100, y: 100, once: true, onceDelay: 0.1, repeat: '', topic: '', payload: '', payloadType: 'date', wires: [['mk']] },
  { id: 'mk', type: 'function', z: 'f', x: 200, y: 100, outputs: 1, wires: [['out']], func: 'return { event: { type: "flow.hello", severity: "info" } };' },
  { id: 'out', type: 'wayside out', z: 'f', x: 300, y: 100, wires: [] },
];

type Rec = { id: string; kind: string; ts: number; body: Record<string, unknown> };

/** Everything in the outbox file of a stopped agent. */
async function storedRecords(dir: string): Promise<Rec[]> {
  const outbox = openOutbox({ path: path.join(dir, 'outbox.db'), maxBytes: 256 * 2 ** 20, maxAgeMs: 7 * 86_400_000 }, { log: silentLog() });
  try {
    return outbox.peek(100_000).map((r) => ({ ...(JSON.parse(r.json) as Rec), ts: r.ts }));
  } finally {
    await outbox.close();
  }
}

async function runOnce(dir: string) {
  const t0 = Date.now();
  const f = await startFlowsAgent(CONFIG, { dir });
  const meter = f.panels.get('meter')!;
  meter.emit('voltage', 260); // the rule fires
  meter.emit('raw_v', 1);
  meter.emit('raw_v', 2, { ts: Date.now() * 1000 }); // a driver/flow timestamp in microseconds
  meter.emit('voltage', 230); // and clears
  await waitFor(() => f.agent.health().flows?.state === 'running' && f.agent.outbox.peek(10_000).some((r) => r.kind === 'event' && r.json.includes('flow.hello')), 'the flow event');
  await new Promise((r) => setTimeout(r, 1300)); // at least one full 1 s summary window
  meter.emit('raw_v', 3);
  await f.agent.stop('test end'); // flushes partial windows (meter's 60 s ones at least)
  return { dir: f.dir, t0, t1: Date.now() };
}

describe('record ids and timestamps', () => {
  it('are valid ULIDs from the agent clock and whole ms, for every record kind, stop-time ones included, across a restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-ids-'));
    placeFlows(dir, FLOW);
    const first = await runOnce(dir);
    const firstRecords = await storedRecords(first.dir);
    const second = await runOnce(first.dir);
    const all = await storedRecords(first.dir);
    const secondRecords = all.slice(firstRecords.length);

    const kinds = new Set(all.map((r) => (r.kind === 'summary' && r.body.partial ? 'summary.partial' : r.kind === 'event' ? `event:${String(r.body.type)}` : r.kind)));
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['event:flow.hello', 'event:power.overvoltage', 'reading', 'summary', 'summary.partial']));

    for (const r of all) {
      expect(r.id, JSON.stringify(r)).toMatch(ULID);
      expect(Number.isInteger(r.ts), `ts of ${r.kind} ${r.id}: ${r.ts}`).toBe(true);
      for (const k of ['ts', 'start', 'end'] as const) {
        if (r.body[k] !== undefined && r.body[k] !== null) expect(Number.isInteger(r.body[k]), `${k} of ${r.kind} ${r.id}: ${String(r.body[k])}`).toBe(true);
      }
    }
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);

    // Ids are stamped when recorded, by the clock: the microsecond reading did not move them.
    for (const [recs, run] of [[firstRecords, first], [secondRecords, second]] as const) {
      expect(recs.length).toBeGreaterThan(10);
      for (const r of recs) {
        expect(idTime(r.id)).toBeGreaterThanOrEqual(run.t0);
        expect(idTime(r.id)).toBeLessThanOrEqual(run.t1 + 1000);
      }
    }
    // After the restart, new ids sort after every old one.
    const lastOld = firstRecords.map((r) => r.id).sort().at(-1)!;
    expect(secondRecords.every((r) => r.id > lastOld)).toBe(true);
  });
});

describe('the id generator', () => {
  it('makes a valid id from a fractional, non-finite or out-of-range stamp', () => {
    const gen = createIdGen();
    const now = Date.now();
    const frac = gen(now + 0.75);
    expect(frac).toMatch(ULID);
    expect(idTime(frac)).toBe(now);
    // Microseconds, a year ahead, beyond 48 bits: none may hold the ids after it in the future.
    for (const bad of [NaN, Infinity, -1, now * 1000, now + 365 * 86_400_000, 2 ** 53]) {
      const id = gen(bad);
      expect(id).toMatch(ULID);
      expect(Math.abs(idTime(id) - Date.now())).toBeLessThan(1000);
    }
    expect(Math.abs(idTime(gen()) - Date.now())).toBeLessThan(1000);
  });
});
