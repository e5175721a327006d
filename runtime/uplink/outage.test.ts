// A 30 s broker outage while the agent keeps appending: nothing is lost, first arrivals keep
// outbox order. Uses the real SQLite outbox. (~40 s: the one slow test of the uplink.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, sleep, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { silentLog } from '../log.ts';
import type { OutRecord } from '../types.ts';
import { createUplink } from './index.ts';
import { openTestOutbox, recordFactory } from '../../test/support/uplink/test-records.ts';

const OUTAGE_MS = 30_000;
const log = silentLog();
let dir: string;
let broker: Mosquitto;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-outage-'));
  // Persistence keeps the platform's session (and messages queued for it) across the restart,
  // so what the test sees is what the uplink delivered, not what the collector missed.
  broker = await startMosquitto({ persistence: true, dir: join(dir, 'broker') });
});
afterAll(async () => {
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('survives a 30 s broker outage without losing or reordering records', { timeout: 90_000 }, async () => {
  const gw = 'gw-outage';
  const collector = await subscribeCollector(broker.url, `wayside/${gw}/up/#`, {
    clientId: 'platform-outage', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 200,
  });
  const outbox = openTestOutbox(join(dir, 'store'), log);
  const up = createUplink(
    {
      url: broker.url, clientId: gw, topicPrefix: 'wayside', keepaliveMs: 5_000, maxBatchRecords: 20, maxPayloadBytes: 16 * 1024,
      inflight: 4, reconnect: { minMs: 100, maxMs: 2_000 }, connectTimeoutMs: 2_000,
    },
    { log, outbox, gatewayId: gw, birth: () => ({}) },
  );
  const make = recordFactory();
  const appended: OutRecord[] = [];
  let appending = true;
  const kinds = ['event', 'reading', 'reading', 'summary'] as const;
  const appender = (async () => {
    for (let i = 0; appending; i++) {
      const batch = Array.from({ length: 5 }, (_, j) => make(kinds[(i + j) % 4]));
      appended.push(...batch);
      await outbox.append(batch);
      up.kick();
      await sleep(50);
    }
  })();

  try {
    up.start();
    await sleep(2_000);
    expect(up.state().connected).toBe(true);
    const before = collector.messages.length;
    expect(before).toBeGreaterThan(0);

    await broker.stop();
    const stoppedAt = Date.now();
    await sleep(1_000);
    expect(up.state().connected).toBe(false);
    await sleep(OUTAGE_MS - (Date.now() - stoppedAt));
    expect(outbox.stats().depth).toBeGreaterThan(1_000); // the backlog built up in the outbox
    const disconnected = up.state();
    expect(disconnected.connected).toBe(false);
    expect(disconnected.connectFailures).toBeGreaterThan(3); // failed attempts while the broker is down
    expect(disconnected.reconnects).toBe(0);
    expect(disconnected.lastError).toBeDefined();

    await broker.restart();
    await sleep(3_000);
    appending = false;
    await appender;

    const firstArrivals = (): string[] => {
      const seen = new Set<string>();
      const order: string[] = [];
      for (const m of collector.messages) {
        for (const r of m.payload.records as { id: string }[]) {
          if (!seen.has(r.id)) { seen.add(r.id); order.push(r.id); }
        }
      }
      return order;
    };
    await collector.waitUntil(() => firstArrivals().length >= appended.length, 20_000);
    expect(firstArrivals()).toEqual(appended.map((r) => r.id));
    const end = Date.now() + 5_000;
    while (outbox.stats().depth > 0 && Date.now() < end) await sleep(20);
    expect(outbox.stats().depth).toBe(0);
    expect(up.state()).toMatchObject({ connected: true, reconnects: 1 });
  } finally {
    appending = false;
    await appender;
    await up.stop();
    await outbox.close();
    await collector.close();
  }
});
