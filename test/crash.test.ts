// Crash safety with the real agent process: kill -9 it several times under load, then let it
// run: every record that `append` reported durable reaches the platform (zero lost).
// Then: restart the agent while the broker is down, bring the broker back: the whole backlog
// arrives.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutRecord } from '../runtime/types.ts';
import { journalIds, spawnAgent } from './helpers/agent-process.ts';
import { sleep, startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';

let broker: Mosquitto;
let platform: Collector;
const received = new Set<string>();

function writeConfig(dir: string, gateway: string): string {
  const file = path.join(dir, 'wayside.yaml');
  writeFileSync(
    file,
    `version: 1
gateway: { id: ${gateway}, stateDir: ${dir}/state }
log: { level: warn }
http: { enabled: false }
clock: { trust: always }
uplink: { url: "${broker.url}", reconnect: { min: 100ms, max: 1s } }
defaults: { publish: both, window: 1s }
devices:
  - { id: pole-sim, driver: sim, interval: 20ms }
`,
  );
  return file;
}

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
  // A persistent session: the broker keeps our records while we (or it) are away.
  platform = await subscribeCollector(broker.url, 'wayside/v1/+/up/#', {
    clientId: 'platform-crash-test',
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    keep: false,
    onMessage: (_t, payload) => {
      for (const r of (JSON.parse(payload.toString()) as { records: OutRecord[] }).records) received.add(r.id);
    },
  });
});

afterAll(async () => {
  await platform?.close();
  await broker?.destroy();
});

/** Waits until the agent reported `n` more records durable than `from` (it is up and under load). */
async function journalGrowth(journal: string, from: number, n: number, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let len = journalIds(journal).length;
  while (len < from + n) {
    if (Date.now() > deadline) throw new Error(`the agent reported only ${len - from} of ${n} records durable in ${timeoutMs} ms`);
    await sleep(50);
    len = journalIds(journal).length;
  }
  return len;
}

async function waitAllReceived(ids: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let missing = ids.filter((id) => !received.has(id));
  while (missing.length > 0 && Date.now() < deadline) {
    await sleep(200);
    missing = missing.filter((id) => !received.has(id));
  }
  return missing;
}

describe('crash safety (real agent process)', () => {
  it('loses nothing that was reported durable across repeated kill -9', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-crash-'));
    const config = writeConfig(dir, 'pole-crash');
    const journal = path.join(dir, 'durable.log');
    // Each round: the agent is up and storing (200+ records durable), then runs a little
    // longer (a different phase each round) and is killed mid-stream.
    for (const ms of [0, 450, 900]) {
      const agent = spawnAgent(config, { journal });
      await journalGrowth(journal, journalIds(journal).length, 200);
      await sleep(ms);
      await agent.kill9();
    }
    const beforeFinal = journalIds(journal);
    expect(beforeFinal.length).toBeGreaterThan(500);
    const agent = spawnAgent(config, { journal });
    const missing = await waitAllReceived(beforeFinal, 30_000);
    // The restarted agent is up and producing again before we ask it to stop.
    while (journalIds(journal).length <= beforeFinal.length) await sleep(100);
    const { code, ms } = await agent.term();
    expect(missing, `${missing.length} durable records never arrived; agent stderr: ${agent.stderr()}`).toEqual([]);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
  });

  it('delivers the whole backlog when the agent restarts while the broker is down', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-backlog-'));
    const config = writeConfig(dir, 'pole-backlog');
    const journal = path.join(dir, 'durable.log');
    let agent = spawnAgent(config, { journal });
    await journalGrowth(journal, 0, 200);
    await broker.stop();
    await journalGrowth(journal, journalIds(journal).length, 300); // a backlog builds up
    const first = await agent.term();
    expect(first.code).toBe(0);
    expect(first.ms).toBeLessThan(5000);
    agent = spawnAgent(config, { journal });
    await journalGrowth(journal, journalIds(journal).length, 200); // restarted while the broker is down
    await broker.restart();
    const ids = journalIds(journal);
    expect(ids.length).toBeGreaterThan(500);
    const missing = await waitAllReceived(ids, 30_000);
    await agent.term();
    expect(missing, `${missing.length} of ${ids.length} backlog records never arrived; agent stderr: ${agent.stderr()}`).toEqual([]);
  });
});
