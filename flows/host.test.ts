// The embedded Node-RED through flows/host.ts directly (real Node-RED, real bus, real HTTP
// server, a manual clock so rate limits are exact): setFlows validation and the wayside nodes'
// behaviour. The agent-level tests are in test/flows*.test.ts.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../runtime/bus.ts';
import { createManualClock } from '../test/helpers/clock.ts';
import type { FlowsConfig } from '../runtime/config/schema.ts';
import type { AgentHealth } from '../runtime/health.ts';
import { startHttp, type HttpServer } from '../runtime/http.ts';
import { silentLog } from '../runtime/log.ts';
import type { Reading, WaysideEvent } from '../runtime/types.ts';
import { FlowsValidationError, startFlows, type FlowsHost } from './host.ts';
import { waitFor } from '../test/support/flows/testing.ts';

const log = silentLog();
const bus = createBus(log);
const clock = createManualClock({ trusted: true });
const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-flowhost-'));
const writes: { device: string; point: string; value: unknown }[] = [];
const readings: Reading[] = [];
const events: WaysideEvent[] = [];
const fakeHealth = { v: 1, status: 'ok', problems: [], devices: [{ device: 'lamp', driver: 'panel', state: 'online', errors: 0, readings: 7 }] } as unknown as AgentHealth;
const cfg: FlowsConfig = { enabled: true, editor: { enabled: false, path: '/editor', users: [] }, httpNodeRoot: '/api' };
let http: HttpServer;
let host: FlowsHost;

const tab = { id: 'tab', type: 'tab', label: 'test' };
// Flow nodes carry an editor position (without one Node-RED treats a node as a config node).
const at = (n: Record<string, unknown>, i: number) => (n.type === 'tab' ? n : { x: 100, y: 40 * i, ...n });
const deploy = (nodes: Record<string, unknown>[]) => host.setFlows(nodes.map(at));
const fromBus = (id: string, point: string, wires: string[]) => ({ id, type: 'wayside in', z: 'tab', device: 'src', point, wires: [wires] });
const fn = (id: string, func: string, wires: string[]) => ({ id, type: 'function', z: 'tab', func, outputs: 1, wires: [wires] });
const emit = (point: string, value: number | string | boolean) => bus.emit('reading', { device: 'src', point, value, quality: 'good', ts: clock.now() });

beforeAll(async () => {
  http = await startHttp({ host: '127.0.0.1', port: 0 }, { log, health: () => fakeHealth, metrics: { contentType: 'text/plain', text: async () => '' } });
  bus.on('reading', 'test', (r) => r.device !== 'src' && readings.push(r));
  bus.on('event', 'test', (e) => events.push(e));
  host = await startFlows(cfg, {
    http, stateDir: dir, log, bus, clock, health: () => fakeHealth,
    write: async (device, point, value) => {
      if (device !== 'lamp') throw Object.assign(new Error(`unknown device "${device}"`), { code: 'unknown_device' });
      writes.push({ device, point, value });
    },
  });
});

afterAll(async () => {
  await host?.stop();
  await http?.close();
});

describe('flows host', () => {
  it('starts with no flows and reports itself running', () => {
    expect(host.health()).toMatchObject({ state: 'running', flows: 0, nodes: 0, nodeErrors: 0, unknownTypes: [], editor: false });
  });

  it('rejects invalid flows before Node-RED sees them, naming node and field', async () => {
    const bad = await deploy([tab, fromBus('a', 'x', ['ghost'])]).then(() => undefined, (e: unknown) => e);
    expect(bad).toBeInstanceOf(FlowsValidationError);
    expect((bad as Error).message).toBe('node "a" (wayside in) wires[0][0]: wired to "ghost", which is not in these flows');
    expect(host.health().nodes).toBe(0); // nothing was deployed
  });

  it('deploys flows: readings in, readings and events out, device writes, health, with flows.json saved', async () => {
    await deploy([
      tab,
      fromBus('in-x', 'x', ['double']),
      fn('double', 'msg.payload = msg.payload * 2; msg.device = "calc"; msg.point = "x2"; msg.unit = msg.reading.unit; return msg;', ['out-r']),
      { id: 'out-r', type: 'wayside out', z: 'tab', wires: [] },
      fromBus('in-ev', 'alarm', ['out-ev']),
      { id: 'out-ev', type: 'wayside out', z: 'tab', kind: 'event', eventType: 'test.alarm', severity: 'critical', device: 'calc', wires: [] },
      fromBus('in-w', 'dim', ['write']),
      { id: 'write', type: 'wayside write', z: 'tab', device: 'lamp', point: 'level', wires: [['after-write']] },
      fn('after-write', 'return { device: "calc", point: "write_ms", payload: msg.write.ok ? 1 : 0 };', ['out-r']),
      fromBus('in-h', 'health', ['health']),
      { id: 'health', type: 'wayside health', z: 'tab', device: 'lamp', wires: [['h2r']] },
      fn('h2r', 'return { device: "calc", point: "lamp_readings", payload: msg.payload.readings };', ['out-r']),
    ]);
    expect(host.health()).toMatchObject({ state: 'running', flows: 1, nodes: 11 });
    const saved = JSON.parse(readFileSync(path.join(dir, 'flows', 'flows.json'), 'utf8')) as { id: string }[];
    expect(saved.map((n) => n.id)).toContain('out-ev');

    bus.emit('reading', { device: 'src', point: 'x', value: 21, unit: 'C', quality: 'good', ts: clock.now() });
    const r = await waitFor(() => readings.find((x) => x.point === 'x2'), 'x2 reading');
    expect(r).toMatchObject({ device: 'calc', point: 'x2', value: 42, unit: 'C', quality: 'good', ts: clock.now() });

    emit('alarm', 93);
    const e = await waitFor(() => events.find((x) => x.type === 'test.alarm'), 'event');
    expect(e).toMatchObject({ type: 'test.alarm', severity: 'critical', device: 'calc', data: { value: 93 }, ts: clock.now() });
    expect(e.id).toMatch(/^[0-9A-Z]{26}$/);

    emit('dim', 30);
    await waitFor(() => readings.find((x) => x.point === 'write_ms'), 'write result');
    expect(writes).toEqual([{ device: 'lamp', point: 'level', value: 30 }]);

    emit('health', 1);
    expect((await waitFor(() => readings.find((x) => x.point === 'lamp_readings'), 'health')).value).toBe(7);
    expect(host.health()).toMatchObject({ msgsIn: 4, writes: 1, writeErrors: 0, nodeErrors: 0 });
  });

  it('turns bad input and failed writes into node errors a catch node sees, and counts them', async () => {
    readings.length = 0;
    await deploy([
      tab,
      fromBus('in-bad', 'bad', ['to-obj']),
      fn('to-obj', 'msg.payload = { not: "a value" }; msg.device = "calc"; msg.point = "p"; return msg;', ['out']),
      { id: 'out', type: 'wayside out', z: 'tab', wires: [] },
      fromBus('in-w', 'w', ['write']),
      { id: 'write', type: 'wayside write', z: 'tab', device: 'nowhere', point: 'level', wires: [[]] },
      { id: 'catch', type: 'catch', z: 'tab', scope: ['write'], wires: [['c2r']] },
      fn('c2r', 'return { device: "calc", point: "caught", payload: msg.write.code + ": " + msg.error.message };', ['out']),
    ]);
    const before = host.health().nodeErrors;
    emit('bad', 1);
    await waitFor(() => host.health().nodeErrors > before, 'node error');
    expect(host.health().lastError).toBe('wayside out out: msg.payload: expected a number, a boolean or a string, got {"not":"a value"}');
    emit('w', 5);
    const caught = await waitFor(() => readings.find((x) => x.point === 'caught'), 'caught write error');
    // Node-RED puts the error's toString() in msg.error.message.
    // Device, point and reason once each.
    expect(caught.value).toBe('unknown_device: Error: write 5 to nowhere/level failed: unknown device (configured: none)');
    expect(host.health().writeErrors).toBe(1);
  });

  it('drops what a flooding flow sends beyond the node rate and reports the drops', async () => {
    readings.length = 0;
    await deploy([
      tab,
      fromBus('in-f', 'flood', ['burst']),
      fn('burst', 'const out = []; for (let i = 0; i < 1000; i++) out.push({ payload: i, device: "calc", point: "flood" }); return [out];', ['out']),
      { id: 'out', type: 'wayside out', z: 'tab', rate: 25, wires: [] },
    ]);
    const dropped0 = host.health().dropped;
    emit('flood', 1);
    await waitFor(() => host.health().dropped - dropped0 === 975, 'drops', 10_000);
    // The manual clock does not move: exactly the burst (25) passed.
    expect(readings.filter((r) => r.point === 'flood')).toHaveLength(25);
  });
});
