// A gateway whose platform is unreachable for a long time: the outbox hits its byte cap while
// readings keep coming (~1,200 raw readings/s). The oldest records are dropped, counted and
// evented, the agent keeps running, the database stays within its cap, and memory stays flat:
// the live heap after a full GC does not grow while records are being dropped. (RSS alone
// would not tell: V8 grows its heap in steps for a while under this allocation rate.)
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { startWayside } from '../main.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import { freePort, sleep } from './helpers/mosquitto.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const liveHeapMb = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

describe('full outbox (platform unreachable)', () => {
  it('drops oldest, counts and events the drops, keeps running with flat memory', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-full-'));
    const registry = createDriverRegistry(builtinDrivers());
    const config = parseConfig(
      `version: 1
gateway: { id: pole-full, stateDir: ${dir}/state }
http: { enabled: false }
clock: { trust: always }
outbox: { maxBytes: 1MiB }
uplink: { url: "mqtt://127.0.0.1:${await freePort()}", reconnect: { min: 200ms, max: 1s } }
defaults: { publish: raw, window: 1s }
devices:
  - { id: pole-sim, driver: sim, interval: 10ms, burst: 2 }
`,
      path.join(dir, 'wayside.yaml'),
      registry,
    );
    const agent = await startWayside({ config, registry, log: silentLog() });
    try {
      for (let i = 0; i < 100 && agent.health().outbox.dropped === 0; i++) await sleep(200);
      expect(agent.health().outbox.dropped, 'the cap was never hit').toBeGreaterThan(0);
      await sleep(5000);
      const heap: number[] = [];
      for (let i = 0; i < 5; i++) {
        heap.push(liveHeapMb());
        await sleep(5000);
      }
      const h = agent.health();
      expect(h.outbox.droppedByReason.full).toBeGreaterThan(20_000);
      expect(h.outbox.fileBytes).toBeLessThan(4 * 1024 * 1024);
      expect(h.uplink.connected).toBe(false);
      // 20 s of dropping ~1,200 records/s: the live heap must not grow (a leak of them would add MBs).
      expect(Math.max(...heap.slice(1)) - heap[0], `live heap every 5 s: ${heap.map((m) => m.toFixed(1)).join(' ')} MB`).toBeLessThan(3);
    } finally {
      await agent.stop('test end');
    }
    const db = new DatabaseSync(path.join(dir, 'state/outbox.db'), { readOnly: true });
    const stored = db.prepare('SELECT sum(bytes) AS b FROM outbox').get() as { b: number };
    const rows = db.prepare(`SELECT json FROM outbox WHERE kind = 'event'`).all() as { json: string }[];
    db.close();
    expect(stored.b).toBeLessThanOrEqual(1024 * 1024);
    const drops = rows.map((r) => JSON.parse(r.json).body).filter((e) => e.type === 'outbox.dropped');
    expect(drops.length).toBeGreaterThan(0);
    expect(drops[0].data).toMatchObject({ reason: 'full' });
    expect(drops[0].data.count).toBeGreaterThan(0);
  });
});
