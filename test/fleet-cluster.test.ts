// The fleet design on a clustered broker: a real two-node RabbitMQ cluster (Debian
// rabbitmq-server 3.10, rabbitmq_mqtt; test/support/rabbitmq.ts) started by the test on loopback.
// Gateways (real agents, light: bench/fleet/gateways.ts, whose flows host is a double because
// Node-RED runs once per process) connect to node A over MQTT 3.1.1 (RabbitMQ 3.10's MQTT plugin
// has no MQTT 5); the platform is on node B. Carried across the cluster: births seen live, ping
// and health answered, the deploy.confirmed events of a signed flow deploy, and the broker ACL
// as RabbitMQ topic permissions (one rule set for all gateways through `{username}`).
// Not carried over, shown here and handled in docs/scaling.md:
//   - retained messages are per node (and only delivered to subscriptions without wildcards):
//     a platform on node B never gets the retained state of gateways on node A, so it learns
//     gateways from live births and ping/health answers;
//   - a `.` in a topic level is RabbitMQ's routing-key separator: `cmd/flows.deploy` is
//     delivered as `cmd/flows/deploy`. The gateway subscribes to `cmd/#` and reads both forms
//     as the same command (runtime/uplink/protocol.ts commandName), so dotted commands carry
//     over; the test shows the split topic and the answer.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayIds, provisionGateway, startLightGateway, type LightGateway } from '../bench/fleet/gateways.ts';
import { connectPlatform, type Platform } from '../bench/fleet/platform.ts';
import { generatePlatformKey, type PlatformKey } from '../provisioning/fleet/keys.ts';
import { until } from './helpers/wait.ts';
import { rabbitmqAvailable, startRabbitCluster, type RabbitCluster } from './support/rabbitmq.ts';

const PREFIX = 'wayside/v1';
const GATEWAYS = gatewayIds(3);
const PLATFORM = { name: 'platform', password: 'platform-secret' };
// The generated mosquitto ACL (provisioning/acl.ts) as RabbitMQ topic permissions on amq.topic:
// routing keys are MQTT topics with `/` as `.`; `{username}` is the connecting user.
const GATEWAY_TOPICS = { write: '^wayside\\.v1\\.{username}\\.(state|up\\.[^.]+|res\\..+)$', read: '^wayside\\.v1\\.{username}\\.cmd\\.[^.]+$' };
// The platform may publish any command (a dotted name becomes extra levels: see the header).
const PLATFORM_TOPICS = { write: '^wayside\\.v1\\.([^.]+\\.cmd\\..+|claim\\.res\\.[^.]+)$', read: '^wayside\\.v1\\..+$' };

describe.skipIf(!rabbitmqAvailable())('fleet on a two-node RabbitMQ cluster', () => {
  let cluster: RabbitCluster;
  let dir: string;
  let platform: Platform;
  let key: PlatformKey;
  const gateways: LightGateway[] = [];
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wayside-fleet-cluster-'));
    cluster = await startRabbitCluster({
      nodes: 2,
      users: [
        { ...PLATFORM, topic: PLATFORM_TOPICS },
        ...GATEWAYS.map((gw) => ({ name: gw, password: `${gw}-pw`, topic: GATEWAY_TOPICS })),
      ],
    });
    const [a, b] = cluster.nodes;
    key = generatePlatformKey(join(dir, 'platform.key'));
    // The platform first, on node B: it sees the births live.
    platform = await connectPlatform({ url: b.mqttUrl, prefix: PREFIX, key, protocolVersion: 4, clientId: 'platform-b', username: PLATFORM.name, password: PLATFORM.password });
    for (const gw of GATEWAYS) {
      const root = join(dir, gw);
      provisionGateway(root, gw, key.privateKey, { url: a.mqttUrl, username: gw, password: `${gw}-pw` });
      gateways.push(await startLightGateway({ gw, root, protocolVersion: 4, intervalS: 10, healthWindow: '1s' }));
    }
  }, 150_000);

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    for (const g of gateways) await g.agent.stop('test done');
    await platform?.close();
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('is a cluster of two running nodes with MQTT on both', async () => {
    expect((await cluster.running()).sort()).toEqual(['rabbit1@localhost', 'rabbit2@localhost']);
    for (const g of gateways) expect((g.agent.health() as { uplink: { connected: boolean } }).uplink.connected).toBe(true);
  });

  it('the platform on node B sees the births of the gateways on node A live, and reaches them by ping', async () => {
    await until(() => GATEWAYS.every((gw) => platform.gateways().some((g) => g.id === gw && g.online)), 20_000, 'births on node B');
    const pings = await platform.commandAll(GATEWAYS, 'ping', { payload: { hello: 'cluster' }, timeoutMs: 15_000 });
    for (const p of pings) expect(p, p.gw).toMatchObject({ ok: true, result: { pong: true } });
  });

  it('retained state does not cross the cluster: a late subscriber on node B gets no retained birth, on node A it does', async () => {
    const [a, b] = cluster.nodes;
    const retainedOn = async (url: string, clientId: string) => {
      const c = await mqtt.connectAsync(url, { protocolVersion: 4, clientId, username: PLATFORM.name, password: PLATFORM.password, reconnectPeriod: 0 });
      clients.push(c);
      const got: string[] = [];
      c.on('message', (topic, _p, packet) => packet.retain && got.push(topic));
      await c.subscribeAsync(`${PREFIX}/${GATEWAYS[0]}/state`, { qos: 1 });
      await until(() => got.length > 0, 3000).catch(() => undefined);
      return got;
    };
    expect(await retainedOn(a.mqttUrl, 'late-a')).toEqual([`${PREFIX}/${GATEWAYS[0]}/state`]);
    expect(await retainedOn(b.mqttUrl, 'late-b')).toEqual([]);
  });

  it('a dotted command name carries over: RabbitMQ 3.10 delivers `flows.deploy` as `cmd/flows/deploy`, the gateway reads it as the same command', async () => {
    const [a] = cluster.nodes;
    // A platform-side listener on node A sees how the broker delivers the command topic.
    const spy = await mqtt.connectAsync(a.mqttUrl, { protocolVersion: 4, clientId: 'spy-a', username: PLATFORM.name, password: PLATFORM.password, reconnectPeriod: 0 });
    clients.push(spy);
    const topics: string[] = [];
    spy.on('message', (topic) => topics.push(topic));
    await spy.subscribeAsync(`${PREFIX}/${GATEWAYS[0]}/cmd/#`, { qos: 1 });
    const res = await platform.command(GATEWAYS[0], 'versions.get', undefined, { timeoutMs: 10_000 });
    expect(res.ok, JSON.stringify(res.error)).toBe(true);
    expect(res.result).toMatchObject({ gateway: GATEWAYS[0], enrolled: true });
    await until(() => topics.length > 0, 5000, 'the command on the spy');
    expect(topics).toEqual([`${PREFIX}/${GATEWAYS[0]}/cmd/versions/get`]);
  });

  it('a signed flow deploy on the gateways on node A is confirmed to the platform on node B, and health is pulled from all', async () => {
    const flows = JSON.parse(readFileSync(new URL('../flows/examples/lamp-dimming.json', import.meta.url), 'utf8')) as unknown[];
    // Signed by the platform on node B, carried through the cluster to the gateways on node A
    // (`cmd/flows/deploy`), checked, deployed; the deploy.confirmed events travel back.
    const outcomes = await Promise.all(
      gateways.map(async (g) => {
        const waiting = platform.outcome(g.gw, 'flows', 2, 30_000);
        const answer = await platform.command(g.gw, 'flows.deploy', { version: 2, flows }, { signed: true, timeoutMs: 15_000 });
        expect(answer.ok, JSON.stringify(answer.error)).toBe(true);
        expect(answer.result).toMatchObject({ target: 'flows', version: 2, status: 'watching' });
        return waiting;
      }),
    );
    expect(outcomes.map((o) => [o?.gw, o?.status])).toEqual(GATEWAYS.map((gw) => [gw, 'confirmed']));
    for (const g of gateways) expect(g.flows.deploys()).toBe(1);
    // Unsigned, the same payload is refused by the gateway (the signature is checked end to end).
    const unsigned = await platform.command(GATEWAYS[0], 'flows.deploy', { version: 3, flows }, { signed: false, timeoutMs: 15_000 });
    expect(unsigned.error?.code).toBe('unsigned');

    const healths = await platform.health(GATEWAYS, { timeoutMs: 15_000 });
    for (const h of healths) {
      expect(h.ok, h.gw).toBe(true);
      expect(h.result).toMatchObject({ gateway: h.gw, deploy: { flows: { active: 2, lastGood: 2 } }, provisioning: { enrolled: true, gatewayId: h.gw } });
    }
  });

  it('the ACL carries over as topic permissions: a gateway may not read another gateway\'s commands nor publish any command', async () => {
    const [a] = cluster.nodes;
    const [own, other] = GATEWAYS;
    const connect = async (clientId: string) => {
      const c = await mqtt.connectAsync(a.mqttUrl, { protocolVersion: 4, clientId, username: own, password: `${own}-pw`, reconnectPeriod: 0 });
      clients.push(c);
      return c;
    };
    const c1 = await connect(`${own}-probe1`);
    expect((await c1.subscribeAsync(`${PREFIX}/${own}/cmd/+`, { qos: 1 }))[0].qos).toBe(1);
    // RabbitMQ 3.10 answers a denied subscription by closing the connection (mosquitto grants it and delivers nothing).
    const denied = await c1.subscribeAsync(`${PREFIX}/${other}/cmd/+`, { qos: 1 }).then((g) => `granted qos ${g[0].qos}`, (err: Error) => err.message);
    expect(denied).toMatch(/Connection closed|granted qos 128/);
    // Publishing a command, even to itself: the connection is closed (MQTT 3.1.1 has no negative PUBACK).
    const c2 = await connect(`${own}-probe2`);
    const closed = new Promise<void>((resolve) => c2.once('close', () => resolve()));
    c2.publish(`${PREFIX}/${own}/cmd/health`, '{}', { qos: 1 });
    await closed;
    // Its own up topics are fine.
    const c3 = await connect(`${own}-probe3`);
    await c3.publishAsync(`${PREFIX}/${own}/up/event`, JSON.stringify({ v: 1, gateway: own, records: [] }), { qos: 1 });
    expect(c3.connected).toBe(true);
    // A wrong password is refused.
    await expect(mqtt.connectAsync(a.mqttUrl, { protocolVersion: 4, clientId: 'intruder', username: other, password: 'nope', reconnectPeriod: 0, connectTimeout: 5000 })).rejects.toThrow();
  });
});
