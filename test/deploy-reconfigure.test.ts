// Live reconfiguration of the real agent (agent.reconfigure): a device added while another keeps
// its cadence and driver instance, an edited device restarted alone, rules and summary windows
// swapped without losing a reading, an uplink URL change reconnecting to a second real mosquitto
// with the records stored meanwhile delivered there, and restart-only sections reported.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { startWayside } from '../main.ts';
import type { Agent } from '../runtime/agent.ts';
import { parseConfig, type WaysideConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import type { DeviceHealth, OutRecord, Reading, Summary, WaysideEvent } from '../runtime/types.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { testDriver, type TestDeviceHandle } from './helpers/test-driver.ts';
import { sleep, until, waitFor } from './helpers/wait.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-reconf-'));
const handles = new Map<string, TestDeviceHandle>();
const registry = createDriverRegistry([...builtinDrivers(), testDriver(handles)]);
let brokerA: Mosquitto;
let brokerB: Mosquitto;
let platformA: Collector;
let platformB: Collector;
let agent: Agent;

const yaml = (o: { url: string; devices: string; rules?: string; extra?: string }) => `version: 1
gateway: { id: pole-rc, stateDir: ${dir} }
http: { enabled: false }
clock: { trust: always }
uplink: { url: "${o.url}", reconnect: { min: 200ms, max: 1s } }
defaults: { publish: summaries, window: 2s, offlineAfter: 1h }
devices:
${o.devices}
rules:
${o.rules ?? '  []'}
${o.extra ?? ''}`;
const config = (o: Parameters<typeof yaml>[0]): WaysideConfig => parseConfig(yaml(o), path.join(dir, 'wayside.yaml'), registry);

const SIM_A = '  - { id: sim-a, driver: sim, interval: 100ms, points: [pm25] }';
const METER = '  - { id: meter, driver: test, perPoint: { raw_v: { publish: raw } } }';
const RULE = '  - { id: v-high, point: meter/voltage, above: 250, severity: critical, event: power.overvoltage }';

const readings: Reading[] = [];
const events: WaysideEvent[] = [];
const summaries: Summary[] = [];
const device = (id: string): DeviceHealth | undefined => agent.health().devices.find((d: DeviceHealth) => d.device === id);

beforeAll(async () => {
  [brokerA, brokerB] = await Promise.all([startMosquitto(), startMosquitto()]);
  [platformA, platformB] = await Promise.all([subscribeCollector(brokerA.url, 'wayside/v1/#'), subscribeCollector(brokerB.url, 'wayside/v1/#')]);
  agent = await startWayside({ config: config({ url: brokerA.url, devices: `${SIM_A}\n${METER}`, rules: RULE }), registry, log: silentLog() });
  agent.bus.on('reading', 'test', (r) => readings.push(r));
  agent.bus.on('event', 'test', (e) => events.push(e));
  agent.bus.on('summary', 'test', (s) => summaries.push(s));
  await platformA.waitFor((m) => m.topic === 'wayside/v1/pole-rc/state' && m.payload.online === true);
});

afterAll(async () => {
  await agent?.stop('test end');
  await Promise.all([platformA?.close(), platformB?.close()]);
  await Promise.all([brokerA?.destroy(), brokerB?.destroy()]);
});

/** Largest gap (ms) between consecutive sim-a readings stamped in [from, to]. */
const largestGap = (from: number, to: number): number => {
  const ts = readings.filter((r) => r.device === 'sim-a' && r.ts >= from && r.ts <= to).map((r) => r.ts);
  let gap = 0;
  for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i] - ts[i - 1]);
  return gap;
};

describe('agent.reconfigure', () => {
  it('adds a sim device while the other devices keep running (same driver instance, no gap in the cadence)', async () => {
    await until(() => (device('sim-a')?.readings ?? 0) >= 5, 10_000, 'sim-a readings');
    const meterBefore = handles.get('meter')!;
    const t0 = Date.now();
    const r = await agent.reconfigure(config({ url: brokerA.url, devices: `${SIM_A}\n${METER}\n  - { id: sim-b, driver: sim, interval: 100ms, points: [noise_db] }`, rules: RULE }));
    expect(r).toEqual({ restarted: ['device:sim-b'], swapped: [], needsRestart: [] });
    await waitFor(() => readings.some((x) => x.device === 'sim-b'), 'sim-b readings', 10_000);
    const readingsA = device('sim-a')!.readings;
    await sleep(500);
    // sim-a's driver counted on (a restart would start its count again) and never paused.
    expect(device('sim-a')!.readings).toBeGreaterThan(readingsA);
    expect(largestGap(t0 - 500, Date.now())).toBeLessThan(1000);
    expect(handles.get('meter')).toBe(meterBefore);
    expect(meterBefore.started).toBe(true);
  });

  it('restarts only the device that was edited, and stops the one removed', async () => {
    const meterBefore = handles.get('meter')!;
    const countA = device('sim-a')!.readings;
    const r = await agent.reconfigure(config({ url: brokerA.url, devices: `${SIM_A}\n  - { id: meter, driver: test, note: edited, perPoint: { raw_v: { publish: raw } } }`, rules: RULE }));
    expect(r.restarted.sort()).toEqual(['device:meter', 'device:sim-b']);
    expect(handles.get('meter')).not.toBe(meterBefore); // a new driver instance for the edited device
    expect(meterBefore.started).toBe(false);
    expect(handles.get('meter')!.started).toBe(true);
    expect(device('sim-b')).toBeUndefined();
    expect(device('sim-a')!.readings).toBeGreaterThanOrEqual(countA);
    const stopped = readings.filter((x) => x.device === 'sim-b').length;
    await sleep(400);
    expect(readings.filter((x) => x.device === 'sim-b').length).toBe(stopped);
  });

  it('swaps rules and summary windows in place: no reading lost, a raised rule stays raised, unchanged windows go on', async () => {
    const meter = handles.get('meter')!;
    meter.emit('voltage', 260);
    await waitFor(() => events.some((e) => e.type === 'power.overvoltage' && e.state === 'raise'), 'v-high raised');
    // Readings keep coming while the rules and a window length are swapped under them.
    const before = readings.length;
    const sent: number[] = [];
    let n = 0;
    const feeder = setInterval(() => { meter.emit('raw_v', ++n); sent.push(n); }, 5);
    await sleep(100);
    const cutBefore = summaries.filter((s) => s.partial).length;
    const r = await agent.reconfigure(config({
      url: brokerA.url,
      devices: `${SIM_A}\n  - { id: meter, driver: test, note: edited, window: 5s, perPoint: { raw_v: { publish: raw } } }`,
      rules: `${RULE}\n  - { id: v-low, point: meter/voltage, below: 100, event: power.undervoltage }`,
    }));
    await sleep(100);
    clearInterval(feeder);
    expect(r.swapped).toEqual(['rules', 'summaries']);
    expect(r.restarted).toEqual(['device:meter']); // its window changed: the device config changed
    // Every raw reading emitted went through the bus and into the outbox.
    // (A record in flight is briefly in neither place: acked by the broker, not yet at the collector.)
    const missing = () => {
      const got = new Set(stored('reading').filter((x) => x.device === 'meter' && x.point === 'raw_v').map((x) => x.value));
      return sent.filter((v) => !got.has(v));
    };
    await until(() => missing().length === 0, 10_000, 'every raw reading in the outbox or delivered');
    expect(readings.length - before).toBeGreaterThanOrEqual(sent.length);
    // v-high kept its state: no second raise, and a value back in range clears it once.
    expect(events.filter((e) => e.type === 'power.overvoltage' && e.state === 'raise')).toHaveLength(1);
    expect(agent.health().uplink.reconnects).toBe(0);
    meter.emit('voltage', 230);
    await waitFor(() => events.some((e) => e.type === 'power.overvoltage' && e.state === 'clear'), 'v-high cleared');
    meter.emit('voltage', 50);
    await waitFor(() => events.some((e) => e.type === 'power.undervoltage' && e.state === 'raise'), 'the new rule v-low raised');
    // Only meter's windows changed length; sim-a's window was not cut short.
    expect(summaries.slice(cutBefore).filter((s) => s.partial && s.device === 'sim-a')).toEqual([]);
  });

  it('restarts the uplink on a URL change: a second mosquitto gets the birth and the records, the outbox is kept', async () => {
    const cur = agent.config();
    const next: WaysideConfig = { ...cur, uplink: { ...cur.uplink, url: brokerB.url } };
    const r = await agent.reconfigure(next);
    expect(r).toEqual({ restarted: ['uplink'], swapped: [], needsRestart: [] });
    await platformB.waitFor((m) => m.topic === 'wayside/v1/pole-rc/state' && m.payload.online === true, 10_000);
    handles.get('meter')!.emit('raw_v', 4242);
    await platformB.waitFor((m) => m.topic === 'wayside/v1/pole-rc/up/reading' && m.payload.records.some((x: OutRecord) => (x.body as Reading).value === 4242), 10_000);
    // The old session said goodbye on the old broker.
    await platformA.waitFor((m) => m.topic === 'wayside/v1/pole-rc/state' && m.payload.online === false);
    expect(agent.health().uplink.connected).toBe(true);
  });

  it('reports what only a restart applies, and applies nothing for an identical config', async () => {
    const cur = agent.config();
    expect(await agent.reconfigure(cur)).toEqual({ restarted: [], swapped: [], needsRestart: [] });
    const r = await agent.reconfigure({ ...cur, outbox: { ...cur.outbox, maxBytes: cur.outbox.maxBytes * 2 }, log: { level: 'debug' } });
    expect(r.needsRestart.sort()).toEqual(['log', 'outbox']);
    expect(r.restarted).toEqual([]);
  });
});

/** Readings that reached the outbox (still stored) or either platform. */
function stored(kind: 'reading'): Reading[] {
  const fromOutbox = agent.outbox.peek(100_000).map((r) => JSON.parse(r.json) as OutRecord).filter((r) => r.kind === kind).map((r) => r.body as Reading);
  const fromPlatform = [platformA, platformB].flatMap((p) => p.messages.filter((m) => m.topic === `wayside/v1/pole-rc/up/${kind}`).flatMap((m) => (m.payload.records as OutRecord[]).map((r) => r.body as Reading)));
  return [...fromOutbox, ...fromPlatform];
}
