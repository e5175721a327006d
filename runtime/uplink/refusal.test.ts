// A record the broker refuses (PUBACK reason code) must not block the outbox. A real mosquitto
// 2.0 refuses by ACL: it answers a denied QoS 1 publish with PUBACK 0x87 "Not authorized" and
// keeps the connection (its message_size_limit, by contrast, sends no PUBACK at all and
// max_packet_size drops the connection: neither is a refusal the sender can see).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { until } from '../../test/helpers/wait.ts';
import { recordFactory } from '../../test/support/uplink/test-records.ts';
import { silentLog } from '../log.ts';
import { openOutbox } from '../outbox/index.ts';
import type { WaysideEvent } from '../types.ts';
import { createUplink } from './index.ts';

const GW = 'gw-refused';
let broker: Mosquitto;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-refusal-'));
  // Everything allowed but the summary topic of this gateway.
  writeFileSync(join(dir, 'acl'), `pattern readwrite #\npattern deny wayside/${GW}/up/summary\n`);
  broker = await startMosquitto({ extraConf: [`acl_file ${join(dir, 'acl')}`] });
});
afterAll(async () => {
  await broker?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('records the broker refuses', () => {
  it('are resent one by one, set aside after 3 refusals (dead letter, evented), and the rest flows', async () => {
    const events: WaysideEvent[] = [];
    const path = join(dir, 'outbox.db');
    const outbox = openOutbox({ path, maxBytes: 64 << 20, maxAgeMs: 86_400_000 }, { log: silentLog(), onEvent: (e) => events.push(e) });
    const make = recordFactory();
    const before = Array.from({ length: 40 }, () => make('event'));
    const refused = Array.from({ length: 3 }, () => make('summary')); // one batch of three
    const after = Array.from({ length: 40 }, () => make('event'));
    await outbox.append([...before, ...refused, ...after]);
    const collector = await subscribeCollector(broker.url, `wayside/${GW}/up/#`);
    const up = createUplink(
      { url: broker.url, clientId: GW, topicPrefix: 'wayside', keepaliveMs: 30_000, maxBatchRecords: 20, maxPayloadBytes: 64 << 10, inflight: 4, reconnect: { minMs: 50, maxMs: 500 }, connectTimeoutMs: 3_000 },
      { log: silentLog(), outbox, gatewayId: GW, birth: () => ({}) },
    );
    up.start();
    try {
      const ids = () => collector.messages.flatMap((m) => (m.payload.records as { id: string }[]).map((r) => r.id));
      await until(() => ids().length >= 80 && outbox.stats().depth === 0, 15_000, 'events delivered and the outbox empty');
      expect(ids()).toEqual([...before, ...after].map((r) => r.id));
      expect(outbox.stats()).toMatchObject({ depth: 0, setAside: 3 });
      // A refusal is not a connection failure: the session stayed up the whole time.
      expect(up.state()).toMatchObject({ connected: true, reconnects: 0 });
      const dead = events.filter((e) => e.type === 'outbox.dead_letter');
      expect(dead.map((e) => e.data?.count)).toEqual([1, 1, 1]);
      expect(String(dead[0].data?.reason)).toMatch(/Not authorized.*0x87/);
    } finally {
      await up.stop();
      await collector.close();
      await outbox.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    const rows = db.prepare('SELECT id, kind, reason FROM dead_letter ORDER BY seq').all() as { id: string; kind: string; reason: string }[];
    db.close();
    expect(rows.map((r) => r.id)).toEqual(refused.map((r) => r.id));
    expect(rows.every((r) => r.kind === 'summary' && /0x87/.test(r.reason))).toBe(true);
  });
});
