// A gateway whose platform is unreachable for a long time: the outbox hits its byte cap while
// readings keep coming. The oldest records are dropped, counted and evented, the agent keeps
// running with flat memory, and the database stays within its cap. Real agent process.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { rssMb } from '../bench/proc.ts';
import type { AgentHealth } from '../runtime/health.ts';
import { spawnAgent } from './helpers/agent-process.ts';
import { freePort, sleep } from './helpers/mosquitto.ts';

describe('full outbox (real agent process, platform unreachable)', () => {
  it('drops oldest, counts and events the drops, keeps running with flat memory', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-full-'));
    const [httpPort, deadBroker] = [await freePort(), await freePort()];
    const config = path.join(dir, 'wayside.yaml');
    writeFileSync(
      config,
      `version: 1
gateway: { id: pole-full, stateDir: ${dir}/state }
log: { level: error }
http: { host: 127.0.0.1, port: ${httpPort} }
clock: { trust: always }
outbox: { maxBytes: 1MiB }
uplink: { url: "mqtt://127.0.0.1:${deadBroker}", reconnect: { min: 200ms, max: 1s } }
defaults: { publish: raw, window: 1s }
devices:
  - { id: pole-sim, driver: sim, interval: 10ms, burst: 5 }
`,
    );
    const agent = spawnAgent(config);
    const health = async (): Promise<AgentHealth> => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json() as Promise<AgentHealth>;
    try {
      let h: AgentHealth | undefined;
      for (let i = 0; i < 100 && !(h && h.outbox.dropped > 0); i++) {
        await sleep(200);
        h = await health().catch(() => undefined);
      }
      expect(h?.outbox.dropped, 'the cap was never hit').toBeGreaterThan(0);
      const rssAtCap = rssMb(agent.proc.pid!);
      await sleep(8000);
      h = await health();
      const rssLater = rssMb(agent.proc.pid!);
      expect(h.outbox.droppedByReason.full).toBeGreaterThan(10_000);
      // stats().bytes also counts the group waiting for its commit; what is on disk is checked below.
      expect(h.outbox.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
      expect(h.outbox.fileBytes).toBeLessThan(4 * 1024 * 1024);
      expect(h.uplink.connected).toBe(false);
      // Memory flat: 8 s of dropping ~3,000 records/s must not grow the process.
      expect(rssLater - rssAtCap, `rss ${rssAtCap.toFixed(1)} -> ${rssLater.toFixed(1)} MB`).toBeLessThan(15);
    } finally {
      const { code } = await agent.term();
      expect(code).toBe(0);
    }
    const db = new DatabaseSync(path.join(dir, 'state/outbox.db'), { readOnly: true });
    const rows = db.prepare(`SELECT json FROM outbox WHERE kind = 'event'`).all() as { json: string }[];
    const stored = db.prepare('SELECT sum(bytes) AS b FROM outbox').get() as { b: number };
    expect(stored.b).toBeLessThanOrEqual(1024 * 1024);
    db.close();
    const drops = rows.map((r) => JSON.parse(r.json).body).filter((e) => e.type === 'outbox.dropped');
    expect(drops.length).toBeGreaterThan(0);
    expect(drops[0].data.reason).toBe('full');
    expect(drops[0].data.count).toBeGreaterThan(0);
  });
});
