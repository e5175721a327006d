// The agent end to end in-process: sim/test devices -> summarizer/rules -> outbox -> uplink ->
// a real mosquitto, plus /healthz, /metrics, the MQTT health command and graceful stop.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import type { Agent } from '../runtime/agent.ts';
import { startWayside } from '../main.ts';
import type { AgentHealth } from '../runtime/health.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import type { OutRecord, Summary, WaysideEvent } from '../runtime/types.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { testDriver, type TestDeviceHandle } from './helpers/test-driver.ts';

let broker: Mosquitto;
let platform: Collector;
let agent: Agent;
const handles = new Map<string, TestDeviceHandle>();
const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-agent-'));

const records = (kind: string): OutRecord[] =>
  platform.messages.filter((m) => m.topic === `wayside/v1/pole-t/up/${kind}`).flatMap((m) => m.payload.records as OutRecord[]);

beforeAll(async () => {
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, 'wayside/v1/#');
  const registry = createDriverRegistry([...builtinDrivers(), testDriver(handles, { failCreate: 'broken-create', failStart: 'broken-start' })]);
  const config = parseConfig(
    `version: 1
gateway: { id: pole-t, stateDir: ${dir} }
http: { host: 127.0.0.1, port: 0 }
clock: { trust: always }
uplink: { url: "${broker.url}", reconnect: { min: 200ms, max: 1s } }
defaults: { publish: summaries, window: 1s, offlineAfter: 2s }
devices:
  - { id: pole-sim, driver: sim, interval: 100ms }
  - { id: meter, driver: test, window: 60s, perPoint: { status: { publish: raw }, voltage: { checks: { min: 0, max: 300 } } } }
  - { id: broken-create, driver: test }
  - { id: broken-start, driver: test }
rules:
  - { id: v-high, point: meter/voltage, above: 250, hysteresis: 5, severity: critical, event: power.overvoltage }
`,
    path.join(dir, 'wayside.yaml'),
    registry,
  );
  agent = await startWayside({ config, registry, log: silentLog() });
});

afterAll(async () => {
  await agent?.stop('test end');
  await platform?.close();
  await broker?.destroy();
});

describe('agent', () => {
  it('announces itself with a retained birth message', async () => {
    const birth = await platform.waitFor((m) => m.topic === 'wayside/v1/pole-t/state' && m.payload.online === true);
    // A platform service that subscribes later gets it as the retained state.
    const late = await subscribeCollector(broker.url, 'wayside/v1/pole-t/state');
    const retained = await late.waitFor((m) => m.payload.online === true);
    await late.close();
    expect(retained.retain).toBe(true);
    expect(birth.payload.versions.protocol).toBe(1);
    expect(birth.payload.capabilities).toEqual(expect.arrayContaining(['cmd:health', 'cmd:ping', 'cmd:write']));
    // Each device's points, as the platform needs them to build views and write forms.
    const sim = (birth.payload.devices as { id: string; points?: unknown[] }[]).find((d) => d.id === 'pole-sim')!;
    expect(sim.points).toContainEqual(expect.objectContaining({ name: 'lamp_level', type: 'number', writable: true, min: 0, max: 100 }));
    expect(sim.points).toContainEqual(expect.objectContaining({ name: 'pm25', unit: 'µg/m³', writable: false }));
  });

  it('delivers 1 s summaries of the sim pole with unique sortable ids', async () => {
    await platform.waitUntil(() => new Set(records('summary').map((r) => (r.body as Summary).point)).size >= 5, 15_000);
    const sums = records('summary');
    const pm = sums.map((r) => r.body as Summary).find((s) => s.point === 'pm25')!;
    expect(pm.device).toBe('pole-sim');
    expect(pm.count).toBeGreaterThanOrEqual(1);
    expect(pm.min).toBeLessThanOrEqual(pm.mean);
    expect(pm.max).toBeGreaterThanOrEqual(pm.mean);
    const ids = sums.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids); // first arrivals come in id order
  });

  it('raises and clears a threshold event, and sends raw readings where configured', async () => {
    const meter = handles.get('meter')!;
    meter.emit('voltage', 262, 'V');
    meter.emit('status', 'ok');
    const raised = await platform.waitFor((m) => m.topic.endsWith('/up/event') && m.payload.records.some((r: OutRecord) => (r.body as WaysideEvent).type === 'power.overvoltage'));
    const ev = (raised.payload.records as OutRecord[]).map((r) => r.body as WaysideEvent).find((e) => e.type === 'power.overvoltage')!;
    expect(ev).toMatchObject({ device: 'meter', point: 'voltage', state: 'raise', severity: 'critical' });
    meter.emit('voltage', 240, 'V');
    await platform.waitUntil(() => records('event').some((r) => (r.body as WaysideEvent).type === 'power.overvoltage' && (r.body as WaysideEvent).state === 'clear'));
    await platform.waitUntil(() => records('reading').some((r) => r.body.device === 'meter' && 'value' in r.body && r.body.value === 'ok'));
    // voltage is summarized (60 s window), not sent raw
    expect(records('reading').some((r) => 'point' in r.body && r.body.point === 'voltage')).toBe(false);
  });

  it('flags implausible values as a data-quality fault that degrades the device', async () => {
    handles.get('meter')!.emit('voltage', 999, 'V');
    await platform.waitUntil(() => records('event').some((r) => (r.body as WaysideEvent).type === 'point.out_of_range' && (r.body as WaysideEvent).state === 'raise'));
    const meter = agent.health().devices.find((d) => d.device === 'meter')!;
    expect(meter).toMatchObject({ state: 'degraded', quality: ['voltage:out_of_range'] });
    handles.get('meter')!.emit('voltage', 231, 'V');
    await platform.waitUntil(() => records('event').some((r) => (r.body as WaysideEvent).type === 'point.out_of_range' && (r.body as WaysideEvent).state === 'clear'));
    expect(agent.health().devices.find((d) => d.device === 'meter')!.state).toBe('online');
  });

  it('keeps running when a device fails to be created or started, and says so in health', async () => {
    const h = agent.health();
    const byId = Object.fromEntries(h.devices.map((d) => [d.device, d]));
    expect(byId['pole-sim'].state).toBe('online');
    expect(byId['broken-create']).toMatchObject({ state: 'offline' });
    expect(byId['broken-create'].lastError).toMatch(/refuses to be created/);
    expect(h.status).toBe('degraded');
    expect(h.problems).toContain('device broken-create offline');
  });

  it('serves /healthz and /metrics', async () => {
    const { host, port } = agent.http!.address();
    const h = (await (await fetch(`http://${host}:${port}/healthz`)).json()) as AgentHealth;
    expect(h.gateway).toBe('pole-t');
    expect(h.uplink.connected).toBe(true);
    expect(h.outbox).toHaveProperty('depth');
    expect(h.system.rssBytes).toBeGreaterThan(0);
    const text = await (await fetch(`http://${host}:${port}/metrics`)).text();
    expect(text).toMatch(/^wayside_uplink_connected 1$/m);
    expect(text).toMatch(/^wayside_device_up\{device="pole-sim",driver="sim"\} 1$/m);
    expect(text).toMatch(/^wayside_outbox_depth_records \d+$/m);
    expect((await fetch(`http://${host}:${port}/nope`)).status).toBe(404);
  });

  it('answers a health request over MQTT 5 with the correlation data', async () => {
    const res = await platform.request('wayside/v1/pole-t/cmd/health', {});
    expect(res.payload.ok).toBe(true);
    expect(res.payload.result.gateway).toBe('pole-t');
    expect(res.payload.result.devices.length).toBe(4);
  });

  it('writes a device point on a platform command, and rejects bad writes with a clear error', async () => {
    const ok = await platform.request('wayside/v1/pole-t/cmd/write', { device: 'pole-sim', point: 'lamp_level', value: 40 });
    expect(ok.payload).toMatchObject({ ok: true, result: { device: 'pole-sim', point: 'lamp_level', value: 40 } });
    await platform.waitUntil(() => agent.health().devices.some((d) => d.device === 'pole-sim'));
    const bad = await platform.request('wayside/v1/pole-t/cmd/write', { device: 'pole-sim', point: 'lamp_level', value: 150 });
    expect(bad.payload.ok).toBe(false);
    expect(bad.payload.error.message).toMatch(/pole-sim.*lamp_level.*150/);
    const unknown = await platform.request('wayside/v1/pole-t/cmd/write', { device: 'nope', point: 'x', value: 1 });
    expect(unknown.payload.error.message).toBe('unknown device "nope"');
    const notWritable = await platform.request('wayside/v1/pole-t/cmd/write', { device: 'meter', point: 'voltage', value: 1 });
    expect(notWritable.payload.error.message).toMatch(/has no writable points/);
  });

  it('reports a device that stops reporting as offline', async () => {
    handles.get('meter')!.emit('voltage', 230, 'V');
    await platform.waitUntil(() => records('event').some((r) => (r.body as WaysideEvent).type === 'device.offline' && r.body.device === 'meter'), 8000);
  });

  it('stops gracefully within 5 s, flushing partial windows before going offline', async () => {
    const t0 = Date.now();
    await agent.stop('test');
    expect(Date.now() - t0).toBeLessThan(5000);
    const offline = await platform.waitFor((m) => m.topic === 'wayside/v1/pole-t/state' && m.payload.online === false);
    expect(offline.payload.reason).toBe('stopped');
    const idx = platform.messages.indexOf(offline);
    const partials = platform.messages.slice(0, idx).filter((m) => m.topic.endsWith('/up/summary')).flatMap((m) => m.payload.records as OutRecord[]).filter((r) => (r.body as Summary).partial);
    expect(partials.length).toBeGreaterThan(0);
    expect(agent.outbox.stats).toBeDefined();
  });
});
