// The outbox on a really full disk (issue 13), with real parts: the state directory is a small
// tmpfs mounted by the test (root only; skipped with the reason otherwise), a filler file takes
// every free byte while the agent stores with its uplink down, the disk stays full past the
// memory bound, the filler goes, the broker starts. At the platform side every reading the sim
// produced is received, still stored, or reported dropped; the disk-full raise/clear pair arrives
// in order; writing resumes and stays resumed; the backlog drains, is acked, the file shrinks.
import { statSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import type { Agent } from '../runtime/agent.ts';
import { startWayside } from '../main.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import { sleep, startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { until } from './helpers/wait.ts';
import { mountSmallFs, smallFsUnavailable, type SmallFs } from './support/outbox/small-fs.ts';

const unavailable = smallFsUnavailable();
if (unavailable) console.warn(`test/outbox-fullfs.test.ts skipped: ${unavailable}`);

interface Rec { id: string; kind: string; body: { type?: string; state?: string; data?: Record<string, number | string> } }

const size = (p: string): number => { try { return statSync(p).size; } catch { return 0; } };
let fs: SmallFs | undefined;
let broker: Mosquitto | undefined;
let platform: Collector | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  await agent?.stop('test end').catch(() => {});
  await platform?.close().catch(() => {});
  await broker?.destroy();
  fs?.cleanup();
  agent = undefined; platform = undefined; broker = undefined; fs = undefined;
});

/** One full-disk outage; returns figures for docs/outbox.md. */
async function outage(fsBytes: number, maxBytes: string): Promise<Record<string, number>> {
  fs = mountSmallFs(fsBytes);
  // The platform's session outlives the broker (persistence): whatever the agent publishes the
  // moment the broker is back reaches the collector, however fast it reconnects.
  broker = await startMosquitto({ persistence: true });
  const topic = 'wayside/v1/pole-fullfs/up/#';
  platform = await subscribeCollector(broker.url, topic, { clean: false, clientId: 'platform-fullfs', properties: { sessionExpiryInterval: 3600 } });
  await broker.stop();
  const port = broker.port;
  const registry = createDriverRegistry(builtinDrivers());
  const config = parseConfig(
    `version: 1
gateway: { id: pole-fullfs, stateDir: ${fs.dir}/state }
http: { enabled: false }
clock: { trust: always }
outbox: { maxBytes: ${maxBytes}, memoryMaxBytes: 256KiB }
uplink: { url: "mqtt://127.0.0.1:${port}", reconnect: { min: 200ms, max: 1s } }
defaults: { publish: raw, window: 1s }
devices:
  - { id: pole-sim, driver: sim, interval: 20ms }
`,
    path.join(fs.dir, 'wayside.yaml'),
    registry,
  );
  agent = await startWayside({ config, registry, log: silentLog() });
  // Readings of a sim tick are emitted together: count from the first whole tick seen.
  let produced = 0;
  let firstTs: number | undefined;
  agent.bus.on('reading', 'fullfs-test', (r) => { firstTs ??= r.ts; produced++; });
  const a = agent;
  const ob = () => a.health().outbox;
  const dbPath = path.join(fs.dir, 'state/outbox.db');
  let peakDb = 0;
  const sampler = setInterval(() => { peakDb = Math.max(peakDb, size(dbPath)); }, 100);
  await sleep(1000); // stores normally for a while, uplink down

  const filled = fs.fill();
  await until(() => ob().diskFull, 15_000, 'the store to see the full disk');
  await until(() => (ob().droppedByReason.memory ?? 0) > 0, 30_000, 'the memory bound to drop held records');
  await sleep(2000); // held full past the memory bound
  expect(ob().reserve).toBe('released');

  fs.unfill();
  await until(() => !ob().diskFull, 15_000, 'writing to resume');
  // Stays resumed: 4 s of samples, never full again, records keep reaching the disk.
  const appended0 = ob().appended;
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    expect(ob().diskFull, `disk full again ${i * 200} ms after it cleared`).toBe(false);
  }
  expect(ob().appended).toBeGreaterThan(appended0);
  await until(() => ob().reserve === 'held', 10_000, 'the reserve file to be made again');

  await broker.restart();
  await until(() => ob().depth < 200 && a.health().uplink.connected, 60_000, 'the backlog to drain');
  clearInterval(sampler);
  // The database gives its free pages back (the WAL keeps its size: journal_size_limit).
  await until(() => size(dbPath) < peakDb / 2, 30_000, `the database to shrink (peak ${peakDb} B, now ${size(dbPath)} B, wal ${size(`${dbPath}-wal`)} B)`);
  const dropped = ob().dropped;
  const acked = ob().acked;
  const h = ob();
  await sleep(1500); // the last drop summaries (one a second) reach the platform
  const producedAtStop = produced;
  await a.stop('test end');
  agent = undefined;

  // Platform side: unique records received.
  const got = new Map<string, Rec>();
  for (const m of platform.messages) for (const r of (m.payload?.records ?? []) as Rec[]) got.set(r.id, r);
  // Still stored: what the closed database holds.
  const db = new DatabaseSync(path.join(fs.dir, 'state/outbox.db'), { readOnly: true });
  const stored = (db.prepare('SELECT json FROM outbox').all() as { json: string }[]).map((r) => JSON.parse(r.json) as Rec);
  db.close();
  const all = [...got.values(), ...stored.filter((r) => !got.has(r.id))];
  const readings = all.filter((r) => r.kind === 'reading' && Number((r.body as { ts?: number }).ts) >= firstTs!).length;
  const events = all.filter((r) => r.kind === 'event');
  const reportedDropped = events.filter((e) => e.body.type === 'outbox.dropped').reduce((s, e) => s + Number(e.body.data?.count ?? 0), 0);

  // Nothing unaccounted: produced = received or stored + reported dropped (the agent's own
  // events are never dropped, and nothing else is stored with publish: raw).
  expect(readings + reportedDropped, `produced ${producedAtStop}, received/stored ${readings}, reported dropped ${reportedDropped}, health ${JSON.stringify(h)}`).toBe(producedAtStop);
  expect(reportedDropped).toBeGreaterThanOrEqual(dropped);
  // The raise/clear pairs arrive whole and in order.
  const states = events.filter((e) => e.body.type === 'outbox.disk_full').map((e) => e.body.state);
  expect(states.length).toBeGreaterThanOrEqual(2);
  expect(states.join(',')).toMatch(/^(raise,clear,?)+$/);
  return { fsBytes, filled, peakDb, dbAfter: size(dbPath), acked, dropped, produced: producedAtStop, received: got.size, stored: stored.length, pairs: states.length / 2 };
}

describe.skipIf(unavailable !== undefined)('outbox on a real full filesystem', () => {
  it('16 MiB tmpfs: events survive, writing resumes, every reading is accounted for, the file shrinks', { timeout: 180_000 }, async () => {
    const f = await outage(16 << 20, '64MiB');
    console.info('full disk, 16 MiB tmpfs:', JSON.stringify(f));
  });

  it('a filesystem smaller than the WAL limit (3 MiB, limit 4 MiB): the same', { timeout: 180_000 }, async () => {
    const f = await outage(3 << 20, '64MiB');
    console.info('full disk, 3 MiB tmpfs:', JSON.stringify(f));
  });
});
