// A request whose response topic the broker would refuse (wildcards, empty, too long, `$`) is
// refused by the gateway: nothing is published, the uplink stays connected and data keeps flowing.
// MQTT 5 against a real mosquitto, MQTT 3.1.1 (response topic in the body) against aedes.
import net, { type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, sleep, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { until } from '../../test/helpers/wait.ts';
import { silentLog } from '../log.ts';
import { createUplink, type UplinkOptions } from './index.ts';
import { responseTopicProblem } from './protocol.ts';
import { createMemoryOutbox } from '../../test/support/uplink/memory-outbox.ts';
import { recordFactory } from '../../test/support/uplink/test-records.ts';

const log = silentLog();
let broker: Mosquitto;

function options(url: string, gw: string, over: Partial<UplinkOptions> = {}): UplinkOptions {
  return {
    url, clientId: gw, topicPrefix: 'wayside', keepaliveMs: 30_000, maxBatchRecords: 50, maxPayloadBytes: 64 * 1024,
    inflight: 4, reconnect: { minMs: 50, maxMs: 500 }, connectTimeoutMs: 3_000, ...over,
  };
}

// Each of these is accepted by mosquitto in a request's property, and would get the gateway dropped.
const BAD_TOPICS = ['reply/+/x', 'reply/#', '#', `reply/${'x'.repeat(600)}`, '$SYS/broker/x'];

beforeAll(async () => { broker = await startMosquitto(); });
afterAll(async () => { await broker?.destroy(); });

describe('response topics (MQTT 5, mosquitto)', () => {
  it('refuses invalid response topics without publishing; stays connected; data keeps flowing', async () => {
    const gw = 'gw-rt5';
    const platform = await subscribeCollector(broker.url, [`wayside/${gw}/up/#`, `wayside/${gw}/state`, 'reply/#', '$SYS/broker/x']);
    const outbox = createMemoryOutbox();
    const make = recordFactory();
    const up = createUplink(options(broker.url, gw), { log, outbox, gatewayId: gw, birth: () => ({}) });
    let ran = 0;
    up.handle('echo', async (req) => { ran++; return req; });
    up.start();
    try {
      await platform.waitFor((m) => m.payload?.online === true);
      for (const responseTopic of BAD_TOPICS) {
        await platform.client.publishAsync(`wayside/${gw}/cmd/echo`, '{}', { qos: 1, properties: { responseTopic, correlationData: Buffer.from('c') } });
      }
      // On MQTT 5 the body cannot override a (bad) property.
      await until(() => up.state().commands.refused === BAD_TOPICS.length, 5_000, 'all refused');
      await sleep(300);
      expect(ran).toBe(0);
      expect(platform.messages.filter((m) => m.topic.startsWith('reply/') || m.topic.startsWith('$'))).toEqual([]);
      expect(up.state()).toMatchObject({ connected: true, reconnects: 0, connectFailures: 0 });
      // Data still flows and a good request is still answered.
      const records = Array.from({ length: 20 }, () => make('reading'));
      await outbox.append(records);
      up.kick();
      await until(() => outbox.stats().depth === 0, 5_000, 'drained');
      expect((await platform.request(`wayside/${gw}/cmd/echo`, { a: 1 })).payload).toEqual({ v: 1, ok: true, result: { a: 1 } });
      expect(up.state().reconnects).toBe(0);
    } finally {
      await up.stop();
      await platform.close();
    }
  });
});

describe('response topics (MQTT 3.1.1, aedes)', () => {
  it('refuses invalid body responseTopics (wildcards, empty, not a string) and stays connected', async () => {
    const aedes = await Aedes.createBroker();
    const server = net.createServer(aedes.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const gw = 'gw-rt4';
    const platform = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'platform-rt4' });
    const got: { topic: string; body: unknown }[] = [];
    platform.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
    await platform.subscribeAsync(['reply/#', `wayside/${gw}/up/#`], { qos: 1 });
    const outbox = createMemoryOutbox();
    const up = createUplink(options(url, gw, { protocolVersion: 4 }), { log, outbox, gatewayId: gw, birth: () => ({}) });
    let ran = 0;
    up.handle('echo', async (req) => { ran++; return (req as { x?: unknown }).x ?? null; });
    up.start();
    try {
      await until(() => up.state().connected, 5_000, 'connected');
      const bad: unknown[] = [...BAD_TOPICS, 'reply/\u0000nul', '', 42, null];
      for (const responseTopic of bad) {
        await platform.publishAsync(`wayside/${gw}/cmd/echo`, JSON.stringify({ responseTopic, correlationId: 'c' }), { qos: 1 });
      }
      await until(() => up.state().commands.refused === bad.length, 5_000, 'all refused');
      await sleep(300);
      expect(ran).toBe(0);
      expect(up.state()).toMatchObject({ connected: true, reconnects: 0 });
      await platform.publishAsync(`wayside/${gw}/cmd/echo`, JSON.stringify({ responseTopic: 'reply/ok', correlationId: 7, x: 5 }), { qos: 1 });
      await until(() => got.some((m) => m.topic === 'reply/ok'), 5_000, 'answered');
      expect(got.find((m) => m.topic === 'reply/ok')!.body).toEqual({ v: 1, ok: true, result: 5, correlationId: 7 });
      await outbox.append([recordFactory()('event')]);
      up.kick();
      await until(() => outbox.stats().depth === 0, 5_000, 'data flows');
    } finally {
      await up.stop();
      await platform.endAsync();
      await new Promise<void>((r) => aedes.close(() => r()));
      server.close();
    }
  });
});

describe('responseTopicProblem', () => {
  it('names what is wrong, and accepts ordinary topics', () => {
    expect(responseTopicProblem('platform/replies/7')).toBeUndefined();
    expect(responseTopicProblem('antwort/ü/日本')).toBeUndefined();
    expect(responseTopicProblem('a/+/b')).toMatch(/wildcard/);
    expect(responseTopicProblem('a/#')).toMatch(/wildcard/);
    expect(responseTopicProblem('')).toBe('empty');
    expect(responseTopicProblem('x'.repeat(513))).toMatch(/longer than 512 bytes/);
    expect(responseTopicProblem('ü'.repeat(300))).toMatch(/longer than 512 bytes/); // bytes, not characters
    expect(responseTopicProblem('$SYS/x')).toMatch(/reserved/);
    expect(responseTopicProblem('a\u0000b')).toMatch(/control character/);
    expect(responseTopicProblem('a\ud800b')).toMatch(/surrogate/);
    expect(responseTopicProblem(42)).toBe('not a string (number)');
    expect(responseTopicProblem(null)).toBe('not a string (null)');
  });
});
