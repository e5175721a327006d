// Config deploys over the real uplink to a real mosquitto with a password file: a config adding
// a sim device is applied live (its readings reach the broker, the uplink never reconnects), a
// config with a wrong broker password cuts the uplink and is rolled back by itself within the
// health window (the gateway is back online), a config the loader refuses is answered with
// file-less `path: message (line N)` errors, and a manual rollback back to the local file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutRecord, Reading } from '../runtime/types.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { configHead, startDeployAgent, type DeployAgent } from './support/deploy/agent.ts';
import { waitFor } from './helpers/wait.ts';

let broker: Mosquitto;
let platform: Collector;
let d: DeployAgent;
const CMD = 'wayside/v1/pole-dep/cmd/';

const uplink = (password: string) => `uplink: { url: "${broker.url}", username: gw, password: ${password}, reconnect: { min: 200ms, max: 1s }, connectTimeout: 2s }\n`;
const BASE = `http: { enabled: false }\ndefaults: { publish: raw }\n`;
const SIM_A = `devices:\n  - { id: sim-a, driver: sim, interval: 200ms, points: [pm25] }\n`;
const SIM_AB = `${SIM_A}  - { id: sim-b, driver: sim, interval: 200ms, points: [noise_db] }\n`;

const delivered = (device: string, after = 0) =>
  platform.messages.some((m) => m.topic === 'wayside/v1/pole-dep/up/reading' && (m.payload.records as OutRecord[]).some((r) => (r.body as Reading).device === device && r.ts > after));
const online = () => platform.messages.filter((m) => m.topic === 'wayside/v1/pole-dep/state' && m.payload.online === true).length;
/** A command over MQTT, as the platform sends it; the response's payload. */
const request = async (name: string, body: unknown) => (await platform.request(CMD + name, body, 15_000)).payload;

beforeAll(async () => {
  broker = await startMosquitto({ users: { gw: 'right-pass', platform: 'platform-pass' } });
  platform = await subscribeCollector(broker.url, 'wayside/v1/#', { username: 'platform', password: 'platform-pass' });
  d = await startDeployAgent(`${BASE}${uplink('right-pass')}${SIM_A}`, { options: { watchMs: 2500 } });
  await platform.waitFor((m) => m.topic === 'wayside/v1/pole-dep/state' && m.payload.online === true);
});
afterAll(async () => {
  await d?.agent.stop('test end');
  await platform?.close();
  await broker?.destroy();
});

describe('config deploy', () => {
  it('applies a config adding a sim device live: its readings arrive, the uplink never reconnects', async () => {
    const res = await request('config.apply', { version: 1, yaml: configHead(d) + BASE + uplink('right-pass') + SIM_AB, wait: true });
    expect(res).toMatchObject({ ok: true, result: { kind: 'config', version: 1, outcome: 'confirmed', details: { restarted: ['device:sim-b'], needsRestart: [] } } });
    await platform.waitFor(() => delivered('sim-b'), 10_000);
    expect(d.agent.health().uplink).toMatchObject({ connected: true, reconnects: 0 });
    expect(online()).toBe(1); // no second birth: the session was never restarted
    expect((await request('config.get', {})).result).toMatchObject({ version: 1, source: 'deployed', yaml: expect.stringContaining('sim-b') });
    // The deploy's events reached the platform through the outbox.
    await platform.waitFor((m) => m.topic === 'wayside/v1/pole-dep/up/event' && m.payload.records.some((r: OutRecord) => (r.body as { type: string }).type === 'deploy.confirmed'));
  });

  it('rolls a config with a wrong broker password back by itself; the gateway comes back online', async () => {
    const births = online();
    // The answer comes on the old session, before the switch cuts it.
    const res = await request('config.apply', { version: 2, yaml: configHead(d) + BASE + uplink('wrong-pass') + SIM_AB });
    expect(res).toMatchObject({ ok: true, result: { target: 'config', version: 2, previous: 1, status: 'watching' } });
    const report = await waitFor(() => d.deploy.last()?.version === 2 && d.deploy.last(), 'the outcome of version 2', 15_000);
    expect(report).toMatchObject({ kind: 'config', version: 2, previous: 1, outcome: 'rolled_back', reason: expect.stringContaining('uplink is not connected') });
    // The wrong password never gets a session: a new birth is the rolled-back config's.
    await platform.waitUntil(() => online() > births, 15_000);
    await waitFor(() => d.agent.health().uplink.connected === true, 'the uplink back with the good password', 15_000);
    const t = Date.now();
    await platform.waitFor(() => delivered('sim-a', t), 10_000);
    const v = (await request('versions.get', {})).result;
    expect(v.config).toMatchObject({ active: 1, lastGood: 1 });
    expect(v.config.history.at(-1)).toMatchObject({ version: 2, outcome: 'rolled_back' });
    await platform.waitFor((m) => m.topic === 'wayside/v1/pole-dep/up/event' && m.payload.records.some((r: OutRecord) => (r.body as { type: string }).type === 'deploy.rolled_back'));
  });

  it('answers a config the loader refuses with every problem, path and line, no file name', async () => {
    const res = await request('config.apply', { version: 3, yaml: configHead(d) + BASE + uplink('right-pass') + `devices:\n  - { id: sim-c, driver: sim, interval: fast }\n` });
    expect(res).toMatchObject({ ok: false, error: { code: 'invalid_config' } });
    expect(res.error.message).toMatch(/^devices\[0\]\.interval: .+ \(line \d+\)$/m);
    expect(res.error.message).not.toMatch(/deployed-config|wayside\.yaml/);
    const moved = await request('config.apply', { version: 3, yaml: `version: 1\ngateway: { id: pole-dep, stateDir: /tmp/elsewhere }\n${BASE}${uplink('right-pass')}` });
    expect(moved).toMatchObject({ ok: false, error: { code: 'invalid_config', message: expect.stringContaining('gateway.stateDir') } });
  });

  it('rolls back by hand to the local config file', async () => {
    const back = await d.cmd('config.rollback', {});
    expect(back).toMatchObject({ kind: 'config', previous: 1, outcome: 'rolled_back', reason: 'manual rollback to the local config file', details: { restarted: ['device:sim-b'] } });
    expect(d.agent.health().devices.map((x: { device: string }) => x.device)).toEqual(['sim-a']);
    expect((await d.cmd('config.get')).source).toBe('file');
  });
});
