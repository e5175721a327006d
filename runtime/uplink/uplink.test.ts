import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startTcpProxy, subscribeCollector, sleep, type Mosquitto, type Collector } from '../../test/helpers/mosquitto.ts';
import { silentLog } from '../log.ts';
import { createUplink, type UplinkOptions, type Uplink } from './index.ts';
import { createMemoryOutbox } from '../../test/support/uplink/memory-outbox.ts';
import { recordFactory } from '../../test/support/uplink/test-records.ts';

const log = silentLog();
let broker: Mosquitto;
let seq = 0;

function options(url: string, over: Partial<UplinkOptions> = {}): UplinkOptions {
  return {
    url,
    clientId: `gw-test-${++seq}`,
    topicPrefix: 'wayside',
    keepaliveMs: 30_000,
    maxBatchRecords: 50,
    maxPayloadBytes: 64 * 1024,
    inflight: 4,
    reconnect: { minMs: 50, maxMs: 500 },
    connectTimeoutMs: 3_000,
    ...over,
  };
}

async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const allIds = (c: Collector, prefix: string) =>
  c.messages.filter((m) => m.topic.startsWith(prefix)).flatMap((m) => (m.payload.records as { id: string }[]).map((r) => r.id));

beforeAll(async () => { broker = await startMosquitto(); });
afterAll(async () => { await broker?.destroy(); });

describe('uplink data path', () => {
  it('delivers appended records in order, in batches, and acks only what was PUBACKed', async () => {
    const gw = 'gw-plain';
    const collector = await subscribeCollector(broker.url, `wayside/${gw}/up/#`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    const records = [...Array.from({ length: 120 }, () => make('event')), ...Array.from({ length: 30 }, () => make('reading')), ...Array.from({ length: 100 }, () => make('event'))];
    await outbox.append(records);
    const up = createUplink(options(broker.url), { log, outbox, gatewayId: gw, birth: () => ({}) });
    up.start();
    try {
      await collector.waitUntil(() => allIds(collector, `wayside/${gw}/up/`).length >= records.length);
      expect(allIds(collector, `wayside/${gw}/up/`)).toEqual(records.map((r) => r.id));
      const batches = collector.messages;
      expect(batches.length).toBeLessThan(records.length / 10); // batched, not one per record
      for (const b of batches) {
        expect(b.payload.v).toBe(1);
        expect(b.payload.gateway).toBe(gw);
        expect(b.payload.records.length).toBeLessThanOrEqual(50);
        const kinds = new Set(b.payload.records.map((r: { kind: string }) => r.kind));
        expect([...kinds]).toEqual([b.topic.split('/').pop()]); // one kind per batch, on its topic
      }
      expect(batches[0].payload.records[0]).toEqual(JSON.parse(JSON.stringify(records[0])));
      await until(() => outbox.stats().depth === 0, 5_000, 'outbox drained');
      // Acks arrive as a non-decreasing cursor ending at the last record.
      expect(outbox.ackCalls).toEqual([...outbox.ackCalls].sort((a, b) => a - b));
      expect(outbox.ackCalls.at(-1)).toBe(records.length);
      expect(up.state()).toMatchObject({ connected: true, sent: records.length, acked: records.length, inflight: 0 });

      // kick(): new records go out promptly.
      const more = Array.from({ length: 5 }, () => make('summary'));
      await outbox.append(more);
      up.kick();
      await collector.waitFor((m) => m.topic === `wayside/${gw}/up/summary`, 2_000);
    } finally {
      await up.stop();
      await collector.close();
    }
  });

  it('bounds batches by payload bytes, sends an oversized record alone, applies rewrite', async () => {
    const gw = 'gw-bytes';
    const collector = await subscribeCollector(broker.url, `wayside/${gw}/up/#`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    const big = make('reading');
    (big.body as { value: unknown }).value = 'x'.repeat(5_000);
    const records = [...Array.from({ length: 20 }, () => make('reading')), big, ...Array.from({ length: 20 }, () => make('reading'))];
    await outbox.append(records);
    const up = createUplink(options(broker.url, { maxPayloadBytes: 1_000 }), {
      log, outbox, gatewayId: gw, birth: () => ({}),
      rewrite: (r) => r.json.replace('"kind":"reading"', '"kind":"reading","rw":1'),
    });
    up.start();
    try {
      await until(() => outbox.stats().depth === 0, 5_000, 'drained');
      await collector.waitUntil(() => allIds(collector, `wayside/${gw}/up/`).length === records.length);
      expect(allIds(collector, `wayside/${gw}/up/`)).toEqual(records.map((r) => r.id));
      for (const m of collector.messages) {
        const bytes = Buffer.byteLength(JSON.stringify(m.payload));
        if (m.payload.records.some((r: { id: string }) => r.id === big.id)) expect(m.payload.records).toHaveLength(1);
        else expect(bytes).toBeLessThanOrEqual(1_000);
        expect(m.payload.records.every((r: { rw?: number }) => r.rw === 1)).toBe(true);
      }
    } finally {
      await up.stop();
      await collector.close();
    }
  });

  it('never has more than `inflight` unacked publishes, and keeps records until PUBACK', async () => {
    const gw = 'gw-window';
    const proxy = await startTcpProxy(broker.port);
    const collector = await subscribeCollector(broker.url, `wayside/${gw}/up/#`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    const records = Array.from({ length: 401 }, () => make('event'));
    const inflight = 3;
    const up = createUplink(options(proxy.url, { inflight, maxBatchRecords: 10 }), { log, outbox, gatewayId: gw, birth: () => ({}) });
    try {
      // Freeze the broker->gateway direction after CONNACK: publishes reach the broker
      // (and the platform) but no PUBACK comes back.
      up.start();
      await until(() => up.state().connected, 5_000, 'connected');
      await sleep(100); // let the birth's PUBACK through
      proxy.freeze(true);
      await outbox.append(records);
      up.kick();
      await collector.waitUntil((m) => m.length >= inflight, 5_000);
      await sleep(500);
      expect(collector.messages.length).toBe(inflight);
      expect(up.state().inflight).toBe(inflight);
      expect(up.state().acked).toBe(0);
      expect(outbox.ackCalls).toEqual([]);
      expect(outbox.stats().depth).toBe(401);

      // Thaw: drains fully; sample the window the whole time.
      let maxSeen = 0;
      const sampler = setInterval(() => { maxSeen = Math.max(maxSeen, up.state().inflight); }, 1);
      proxy.freeze(false);
      await until(() => outbox.stats().depth === 0, 10_000, 'drained');
      clearInterval(sampler);
      expect(maxSeen).toBeLessThanOrEqual(inflight);
      expect(new Set(allIds(collector, `wayside/${gw}/up/`)).size).toBe(401);
    } finally {
      await up.stop();
      await collector.close();
      await proxy.close();
    }
  });
});

describe('gateway state (birth, will, stop)', () => {
  it('announces birth retained, the broker publishes the will on an unclean drop, clean stop retains "stopped"', async () => {
    const gw = 'gw-state';
    const topic = `wayside/${gw}/state`;
    const proxy = await startTcpProxy(broker.port);
    const collector = await subscribeCollector(broker.url, topic);
    const outbox = createMemoryOutbox();
    const up = createUplink(options(proxy.url), { log, outbox, gatewayId: gw, birth: () => ({ versions: { agent: '0.1.0' }, capabilities: ['modbus'] }) });
    try {
      up.start();
      const birth = await collector.waitFor((m) => m.payload?.online === true);
      expect(birth.payload).toMatchObject({ v: 1, online: true, gateway: gw, versions: { agent: '0.1.0' }, capabilities: ['modbus'] });
      expect(typeof birth.payload.ts).toBe('number');

      // A late subscriber gets the birth as a retained message.
      const late = await subscribeCollector(broker.url, topic);
      expect((await late.waitFor((m) => m.retain)).payload.online).toBe(true);
      await late.close();

      // Cut the network under both sides: the broker publishes the will; the uplink reconnects.
      const before = up.state().reconnects;
      proxy.dropAll();
      const lost = await collector.waitFor((m) => m.payload?.online === false);
      expect(lost.payload).toEqual({ v: 1, online: false, gateway: gw, reason: 'lost' });
      await collector.waitUntil((all) => all.filter((m) => m.payload?.online === true).length >= 2, 5_000);
      expect(up.state().connected).toBe(true);
      expect(up.state().reconnects).toBe(before + 1);

      // Failed attempts are counted apart from reconnections.
      proxy.setBlocked(true);
      proxy.dropAll();
      await until(() => up.state().connectFailures >= 3, 5_000, 'failed attempts');
      expect(up.state()).toMatchObject({ connected: false, reconnects: before + 1 });
      proxy.setBlocked(false);
      await until(() => up.state().connected, 5_000, 'reconnected');
      expect(up.state().reconnects).toBe(before + 2);

      await up.stop();
      const stopped = await collector.waitFor((m) => m.payload?.reason === 'stopped');
      expect(stopped.payload).toMatchObject({ v: 1, online: false, gateway: gw, reason: 'stopped' });
      expect(up.state().connected).toBe(false);
      await sleep(300);
      // A clean DISCONNECT means no will: 'stopped' is the last word, and it is retained.
      expect(collector.messages.at(-1)!.payload.reason).toBe('stopped');
      const after = await subscribeCollector(broker.url, topic);
      expect((await after.waitFor((m) => m.retain)).payload.reason).toBe('stopped');
      await after.close();
    } finally {
      await up.stop();
      await collector.close();
      await proxy.close();
    }
  });
});

describe('commands', () => {
  let up: Uplink;
  let platform: Collector;
  const gw = 'gw-cmd';
  const cmd = (name: string) => `wayside/${gw}/cmd/${name}`;

  beforeAll(async () => {
    platform = await subscribeCollector(broker.url, `wayside/${gw}/state`);
    up = createUplink(options(broker.url), { log, outbox: createMemoryOutbox(), gatewayId: gw, birth: () => ({}) });
    up.handle('echo', async (req, meta) => ({ got: req, name: meta.name }));
    up.handle('boom', async () => { throw new Error('device busy'); });
    up.start();
    await platform.waitFor((m) => m.payload?.online === true);
  });
  afterAll(async () => {
    await up.stop();
    await platform.close();
  });

  it('answers a request on its responseTopic with the same correlation data', async () => {
    const res = await platform.request(cmd('echo'), { a: 1 });
    expect(res.payload).toEqual({ v: 1, ok: true, result: { got: { a: 1 }, name: 'echo' } });
  });

  it('reports unknown commands, bad JSON and handler failures without breaking', async () => {
    expect((await platform.request(cmd('nope'), {})).payload).toMatchObject({ v: 1, ok: false, error: { code: 'unknown_command' } });
    expect((await platform.request(cmd('echo'), null, 5_000, { raw: '{not json' })).payload).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect((await platform.request(cmd('boom'), {})).payload).toEqual({ v: 1, ok: false, error: { code: 'failed', message: 'device busy' } });
    // No responseTopic: dropped with a warning; the uplink keeps serving.
    await platform.client.publishAsync(cmd('echo'), '{}', { qos: 1 });
    expect((await platform.request(cmd('echo'), 2)).payload).toMatchObject({ ok: true, result: { got: 2 } });
    expect(up.state().connected).toBe(true);
  });
});

describe("broker limits", () => {
  it("keeps within the broker's receive maximum even when `inflight` is larger", async () => {
    const small = await startMosquitto({ extraConf: ['max_inflight_messages 5'] }); // CONNACK receiveMaximum 5
    const gw = 'gw-recvmax';
    const collector = await subscribeCollector(small.url, `wayside/${gw}/up/#`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    await outbox.append(Array.from({ length: 2_000 }, () => make('reading')));
    const up = createUplink(options(small.url, { inflight: 16, maxBatchRecords: 10 }), { log, outbox, gatewayId: gw, birth: () => ({}) });
    let maxSeen = 0;
    const sampler = setInterval(() => { maxSeen = Math.max(maxSeen, up.state().inflight); }, 1);
    try {
      up.start();
      await until(() => outbox.stats().depth === 0, 15_000, 'drained');
      expect(maxSeen).toBeLessThanOrEqual(5);
      expect(up.state().reconnects).toBe(0); // exceeding it would get us disconnected by the broker
      expect(new Set(allIds(collector, `wayside/${gw}/up/`)).size).toBe(2_000);
    } finally {
      clearInterval(sampler);
      await up.stop();
      await collector.close();
      await small.destroy();
    }
  });

  it('queues command responses while data fills the receive maximum, instead of exceeding it', async () => {
    const small = await startMosquitto({ extraConf: ['max_inflight_messages 5'] });
    // mosquitto does not police QoS 1 against it (other brokers answer quota exceeded or disconnect),
    // so a proxy counts what the gateway has unacknowledged on the wire.
    const wire = await startPubackCounter(small.port);
    const gw = 'gw-recvmax-cmd';
    const platform = await subscribeCollector(small.url, `wayside/${gw}/state`);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    await outbox.append(Array.from({ length: 20_000 }, () => make('reading')));
    const up = createUplink(options(wire.url, { inflight: 16, maxBatchRecords: 5, commands: { maxConcurrent: 64 } }), { log, outbox, gatewayId: gw, birth: () => ({}) });
    up.handle('echo', async (req) => req);
    try {
      up.start();
      await platform.waitFor((m) => m.payload?.online === true); // the birth follows the command SUBSCRIBE
      await until(() => up.state().inflight >= 4, 5_000, 'the data window is full');
      const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => platform.request(`wayside/${gw}/cmd/echo`, i, 15_000)));
      expect(replies.map((r) => r.payload.result)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      await until(() => outbox.stats().depth === 0, 20_000, 'drained');
      // Never more than the receive maximum on the wire (30 before responses shared the window);
      // the sender yields between batches, so the window is not always filled to the last slot.
      expect(wire.maxOutstanding()).toBeLessThanOrEqual(5);
      expect(wire.maxOutstanding()).toBeGreaterThanOrEqual(3);
      expect(up.state()).toMatchObject({ reconnects: 0, connectFailures: 0, connected: true });
    } finally {
      await up.stop();
      await platform.close();
      await wire.close();
      await small.destroy();
    }
  });
});

/** A TCP proxy that parses both directions and tracks the most QoS 1 publishes the client had unacknowledged. */
async function startPubackCounter(brokerPort: number) {
  const outstanding = new Set<number>();
  let max = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(brokerPort, '127.0.0.1');
    for (const s of [down, up]) { sockets.add(s); s.on('error', () => {}); s.on('close', () => { down.destroy(); up.destroy(); }); }
    const fromClient = mqttPacket.parser({ protocolVersion: 5 });
    const fromBroker = mqttPacket.parser({ protocolVersion: 5 });
    fromClient.on('packet', (p) => {
      if (p.cmd === 'publish' && p.qos === 1) { outstanding.add(p.messageId!); max = Math.max(max, outstanding.size); }
    });
    fromBroker.on('packet', (p) => { if (p.cmd === 'puback') outstanding.delete(p.messageId!); });
    down.on('data', (d) => { fromClient.parse(d); up.write(d); });
    up.on('data', (d) => { fromBroker.parse(d); down.write(d); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    maxOutstanding: () => max,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
