// The fleet end to end, with real parts only: mosquitto confined by the generated ACL (one
// password per gateway), a key from keygen, two gateways enrolled with offline bundles through
// `wayside provision --file` and running as real `bin/wayside run` processes (embedded Node-RED,
// deploy health window 2 s), a Modbus TCP simulator, and the fleet library / CLI as the platform:
// listing, health, a staged flows deploy whose events reach the platform, a broken flow rolled
// back by the canary and the rollout stopped (CLI exit 3), a manual rollback, a live config deploy
// adding a Modbus device without an uplink reconnect, a config with a wrong broker password rolled
// back by itself, logs.tail, and a deploy signed by another key refused.
import { generateKeyPairSync } from 'node:crypto';
import { openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFleet, type Fleet } from '../provisioning/fleet/fleet.ts';
import { fleetCli } from '../provisioning/fleet/cli.ts';
import { fingerprint, rawPublicKey } from '../provisioning/keys.ts';
import { createLog, createLogRing } from '../runtime/log.ts';
import { subscribeCollector, type Collector } from './helpers/mosquitto.ts';
import { waitFor } from './helpers/wait.ts';
import { createImage, startTcpSim, type TcpSim } from './support/modbus/sim.ts';
import { brokenFlow, helloFlow, startFleetWorld, type FleetWorld } from './support/fleet/world.ts';

const A = 'pole-a';
const B = 'pole-b';
let world: FleetWorld;
let fleet: Fleet;
let up: Collector;
let sim: TcpSim;
/** The devices of the deployed config (the Modbus meter once added). */
let devices = '';

const events = (gw: string, type: string) => up.messages.filter((m) => m.topic === `wayside/v1/${gw}/up/event`).flatMap((m) => m.payload.records).filter((r: any) => r.body.type === type);
const gw = (id: string) => world.gateways.find((g) => g.id === id)!;
const cli = async (...args: string[]) => {
  let out = '';
  let err = '';
  const code = await fleetCli([...args, '--broker', world.broker.url, '--user', world.platform.username, '--pass', world.platform.password, '--key', world.key.file], {
    out: (t) => (out += t),
    err: (t) => (err += t),
  });
  return { code, out, err };
};

beforeAll(async () => {
  sim = await startTcpSim((u) => (u === 1 ? createImage({ holding: { 0: [231] } }) : undefined));
  world = await startFleetWorld([
    { id: A, site: 'Main St 1', tags: { zone: 'north' } },
    { id: B, site: 'Main St 2', tags: { zone: 'south' } },
  ]);
  up = await subscribeCollector(world.broker.url, ['wayside/v1/+/up/#'], { username: world.platform.username, password: world.platform.password });
  fleet = await connectFleet({ url: world.broker.url, key: { ...world.key }, username: world.platform.username, password: world.platform.password, versionFile: path.join(world.dir, 'platform.key.version') });
  await fleet.ready();
}, 60_000);

afterAll(async () => {
  await fleet?.close();
  await up?.close();
  await world?.stop();
  await sim?.close();
});

describe('wayside-fleet against real gateways', () => {
  it('lists both gateways online with their site and tags, and answers health', async () => {
    await waitFor(() => fleet.gateways().filter((g) => g.online).length === 2, 'both gateways online', 40_000);
    const [a, b] = fleet.gateways();
    expect(a).toMatchObject({ id: A, online: true, site: 'Main St 1', tags: { zone: 'north' }, deployed: { flows: null, config: null } });
    expect(b).toMatchObject({ id: B, online: true, tags: { zone: 'south' } });
    expect(fleet.select({ tags: { zone: 'south' } })).toEqual([B]);
    expect(fleet.select({ all: true })).toEqual([A, B]);

    const health = await fleet.health([A, B]);
    expect(health.map((h) => [h.gw, h.ok])).toEqual([[A, true], [B, true]]);
    expect((health[0].result as any).uplink.connected).toBe(true);

    const list = await cli('list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`${A}\\s+yes\\s+Main St 1\\s+zone=north`));
    const h = await cli('health', '--all', '--json');
    expect(JSON.parse(h.out).map((r: any) => r.gw)).toEqual([A, B]);
  }, 60_000);

  it('deploys a flow in stages (canary first); its event reaches the platform from both', async () => {
    const progress: string[] = [];
    const tally = await fleet.deploy('flows', helloFlow('fleet.hello'), [A, B], { version: 1, canary: 1, timeoutMs: 30_000, onProgress: (o) => progress.push(`${o.gw}:${o.status}`) });
    expect(tally).toMatchObject({ kind: 'flows', version: 1, confirmed: 2, failed: 0, skipped: 0 });
    expect(tally.stoppedEarly).toBeUndefined();
    expect(progress).toEqual([`${A}:confirmed`, `${B}:confirmed`]);
    // Stages run one after the other: B's deploy started after A's outcome (each waits its 2 s window).
    expect(tally.outcomes[0].ms).toBeGreaterThanOrEqual(2000);
    await waitFor(() => events(A, 'fleet.hello').length > 0 && events(B, 'fleet.hello').length > 0, 'the flow events of both gateways', 15_000);
  }, 60_000);

  it('stops the rollout when the canary rolls a broken flow back (CLI exit 3); the other gateway is untouched', async () => {
    const file = path.join(world.dir, 'broken.json');
    writeFileSync(file, JSON.stringify(brokenFlow()));
    const r = await cli('deploy', 'flows', file, '--all', '--version', '2', '--canary', '1', '--max-failure', '0.2', '--timeout', '30s');
    expect(r.code).toBe(3);
    expect(r.err).toMatch(new RegExp(`${A}: rolled_back v2 .*node errors`));
    expect(r.err).toMatch(new RegExp(`${B}: skipped v2 .*stopped early`));
    expect(r.out).toMatch(/flows v2: 0 confirmed, 1 failed, 1 skipped; stopped early: canary stage/);
    const va = await fleet.command(A, 'versions.get');
    const vb = await fleet.command(B, 'versions.get');
    expect((va.result as any).deployed.flows).toMatchObject({ active: 1, lastGood: 1 });
    expect((vb.result as any).deployed.flows.stored).toEqual([0, 1]);
  }, 60_000);

  it('rolls back by hand to an earlier version', async () => {
    const t = await fleet.deploy('flows', helloFlow('fleet.hello3'), [A], { version: 3, timeoutMs: 30_000 });
    expect(t.outcomes.map((o) => o.status)).toEqual(['confirmed']);
    const [res] = await fleet.rollback('flows', [A], { to: 1 });
    expect(res).toMatchObject({ gw: A, ok: true, result: { version: 1, previous: 3, outcome: 'rolled_back', reason: 'manual rollback' } });
    const v = await fleet.command(A, 'versions.get');
    expect((v.result as any).deployed.flows.active).toBe(1);
  }, 60_000);

  it('deploys a config adding a Modbus TCP device live: its readings arrive, the uplink does not reconnect', async () => {
    const before = (await fleet.command(A, 'health')).result as any;
    devices = `  - { id: meter, driver: modbus, transport: { type: tcp, host: 127.0.0.1, port: ${sim.port} }, unitId: 1, interval: 300ms, publish: raw, points: [ { name: voltage, table: holding, address: 0, type: uint16, unit: V } ] }`;
    const t = await fleet.deploy('config', gw(A).config({ devices }), [A], { version: 1, timeoutMs: 30_000 });
    expect(t.outcomes.map((o) => [o.status, o.reason])).toEqual([['confirmed', undefined]]);
    await waitFor(() => up.messages.some((m) => m.topic === `wayside/v1/${A}/up/reading` && m.payload.records.some((r: any) => r.body.device === 'meter' && r.body.value === 231)), 'Modbus readings from the deployed device', 15_000);
    const after = (await fleet.command(A, 'health')).result as any;
    expect(after.uplink.reconnects).toBe(before.uplink.reconnects);
    expect(after.devices.find((d: any) => d.device === 'meter')?.state).toBe('online');
  }, 60_000);

  it('rolls a config with a wrong broker password back by itself; the gateway comes back online', async () => {
    const t = await fleet.deploy('config', gw(A).config({ devices, uplink: { password: 'not-the-password' } }), [A], { version: 2, timeoutMs: 40_000 });
    expect(t.outcomes[0]).toMatchObject({ gw: A, status: 'rolled_back' });
    expect(t.outcomes[0].reason).toMatch(/uplink/);
    expect(devices).toContain('meter');
    await waitFor(() => fleet.gateways().find((g) => g.id === A)?.online === true, `${A} online again`, 20_000);
    const v = (await fleet.command(A, 'versions.get')).result as any;
    expect(v.deployed.config).toMatchObject({ active: 1, lastGood: 1 });
  }, 60_000);

  it('serves the last log lines (signed), without secrets', async () => {
    const lines = await fleet.logs(A, 50);
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.length).toBeLessThanOrEqual(50);
    const all = lines.join('\n');
    expect(all).toMatch(/deploy rolled_back/);
    expect(all).not.toContain(world.broker.passwords[A]);
    expect(all).not.toContain('not-the-password');
    const r = await cli('logs', A, '--lines', '3');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(3);
  }, 30_000);

  it('speaks MQTT 3.1.1 too (response topic and correlation id in the body, outside the signature)', async () => {
    const old = await connectFleet({ url: world.broker.url, key: { ...world.key }, username: world.platform.username, password: world.platform.password, protocolVersion: 4, versionFile: path.join(world.dir, 'platform.key.version') });
    try {
      await old.ready();
      expect(old.gateways().map((g) => g.id)).toEqual([A, B]);
      const [h] = await old.health([B]);
      expect(h).toMatchObject({ gw: B, ok: true, result: { gateway: B } });
      expect((await old.logs(B, 2)).length).toBe(2);
    } finally {
      await old.close();
    }
  }, 30_000);

  it('refuses a deploy signed with another key (bad_signature), and nothing changes', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pub = rawPublicKey(privateKey);
    const rogue = await connectFleet({ url: world.broker.url, key: { privateKey, publicKey: pub, fingerprint: fingerprint(pub) }, username: world.platform.username, password: world.platform.password });
    try {
      await rogue.ready();
      const t = await rogue.deploy('flows', helloFlow('rogue'), [B], { version: 50, timeoutMs: 10_000 });
      expect(t.outcomes[0]).toMatchObject({ gw: B, status: 'refused' });
      expect(t.outcomes[0].reason).toMatch(/^bad_signature: /);
      await expect(rogue.logs(B)).rejects.toThrow(/bad_signature/);
    } finally {
      await rogue.close();
    }
    const v = (await fleet.command(B, 'versions.get')).result as any;
    expect(v.deployed.flows.active).toBe(1);
    await waitFor(() => events(B, 'audit.refused').some((r: any) => r.body.data.code === 'bad_signature'), 'the audit.refused event', 10_000);
  }, 30_000);
});

describe('the log ring behind logs.tail', () => {
  it('keeps the last lines, each bounded, after redaction', () => {
    const ring = createLogRing(3, 40);
    for (let i = 0; i < 5; i++) ring.push(`line ${i}\n`);
    expect(ring.lines()).toEqual(['line 2', 'line 3', 'line 4']);
    expect(ring.lines(2)).toEqual(['line 3', 'line 4']);
    ring.push('x'.repeat(100) + '\n');
    expect(ring.lines(1)[0]).toHaveLength(40);
    expect(ring.lines(1)[0].endsWith('…')).toBe(true);

    // Left open: pino writes to the fd asynchronously, after this test returns (closing it here
    // made that late write fail with an uncaught EBADF).
    const fd = openSync('/dev/null', 'w');
    const logRing = createLogRing(10);
    const log = createLog({ fd, ring: logRing });
    log.info({ password: 'hunter2', url: 'mqtt://x' }, 'connecting');
    const [line] = logRing.lines();
    expect(JSON.parse(line)).toMatchObject({ msg: 'connecting', password: '[redacted]' });
    expect(line).not.toContain('hunter2');
  });
});
