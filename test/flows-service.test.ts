// The flows Service on its own, with a real ctx (bus, clock, HTTP server, state dir) and the real
// embedded Node-RED: not loaded without flows, a missing HTTP server is a health problem and not
// a throw, record ids come from ctx.newId, and `wayside out` refuses a msg.ts in microseconds and
// points beyond defaults.maxPointsPerDevice, counting both in the flows section.
import bcrypt from 'bcryptjs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { nodeRedLoaded } from './support/flows/node-red.ts';
import { createPointCap, MAX_FLOW_DEVICES } from '../flows/points.ts';
import { createFlowsService, type FlowsService } from '../flows/service.ts';
import { createBus } from '../runtime/bus.ts';
import { createClock } from '../runtime/clock.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { startHttp, type HttpServer } from '../runtime/http.ts';
import { silentLog } from '../runtime/log.ts';
import { pino } from 'pino';
import type { ServiceCtx } from '../runtime/service.ts';
import { stateDir } from '../runtime/state.ts';
import type { Reading, WaysideEvent } from '../runtime/types.ts';
import { waitFor } from './support/flows/testing.ts';

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setup(yaml: string, opts: { http?: string } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-flows-svc-'));
  const log = silentLog();
  const config = parseConfig(`version: 1\ngateway: { id: pole-svc, stateDir: ${dir} }\nclock: { trust: always }\nuplink: { enabled: false }\n${yaml}`, path.join(dir, 'wayside.yaml'), createDriverRegistry(builtinDrivers()));
  const clock = createClock({ trust: 'always', stateDir: dir, log });
  cleanup.push(() => clock.stop());
  const bus = createBus(log);
  let http: HttpServer | undefined;
  if (opts.http) {
    http = await startHttp({ host: opts.http, port: 0 }, { log, health: () => ({}) as never, metrics: { contentType: 'text/plain', text: async () => '' } });
    cleanup.push(() => http!.close());
  }
  let ids = 0;
  const ctx: ServiceCtx = { bus, log, clock, newId: () => `CTX${String(++ids).padStart(23, '0')}`, config, state: stateDir(path.join(dir, 'flows')), http, health: () => ({}) };
  const service = createFlowsService({ write: async () => undefined });
  return { ctx, bus, service, dir, http };
}

const start = async (s: FlowsService, ctx: ServiceCtx) => {
  cleanup.push(() => s.stop());
  await s.start(ctx);
};

describe('flows service', () => {
  it('does not load Node-RED when the gateway has no flows', async () => {
    const { ctx, service } = await setup('', { http: '127.0.0.1' });
    await start(service, ctx);
    expect(service.host()).toBeUndefined();
    expect(service.health!()).toEqual({ section: undefined, problems: [] });
    expect(nodeRedLoaded()).toBe(false);
  });

  it('reports a missing HTTP server in its health section instead of throwing', async () => {
    const { ctx, service } = await setup('flows: { enabled: true }\n'); // the loader refuses flows without http: the ctx simply lacks it
    await start(service, ctx);
    expect(service.host()).toBeUndefined();
    const h = service.health!();
    expect(h.section).toMatchObject({ state: 'error', lastError: expect.stringMatching(/HTTP server/) });
    expect(h.problems).toEqual(['flows error: flows need the HTTP server (http.enabled: true); Node-RED not started']);
  });

  it('stamps ids from ctx.newId and refuses a msg.ts in microseconds and points beyond the cap', async () => {
    const { ctx, bus, service } = await setup('defaults: { maxPointsPerDevice: 3 }\nflows: { enabled: true }\n', { http: '127.0.0.1' });
    await start(service, ctx);
    const readings: Reading[] = [];
    const events: WaysideEvent[] = [];
    bus.on('reading', 'test', (r) => r.device === 'virt' && readings.push(r));
    bus.on('event', 'test', (e) => events.push(e));
    const z = { z: 't', x: 100, y: 100 };
    await service.host()!.setFlows([
      { id: 't', type: 'tab' },
      { ...z, id: 'in', type: 'wayside in', device: 'trigger', point: 'go', wires: [['fn']] },
      {
        ...z, id: 'fn', type: 'function', outputs: 1, wires: [['out']],
        func: `const v = msg.payload;
if (v === 1) return { payload: 1, device: 'virt', point: 'us', ts: Date.now() * 1000 };
if (v === 2) return [[0, 1, 2, 3, 4, 5].map((i) => ({ payload: i, device: 'virt', point: 'p' + i }))];
if (v === 4) return { event: { type: 'device.fault', severity: 'critical', device: 'virt' } };
return { event: { type: 'test.old', severity: 'info' }, ts: Date.now() - 12 * 3600e3 };`,
      },
      { ...z, id: 'out', type: 'wayside out', wires: [] },
    ]);
    const go = (value: number) => bus.emit('reading', { device: 'trigger', point: 'go', value, quality: 'good', ts: Date.now() });

    go(1);
    await waitFor(() => (service.health!().section as { tsRefused: number }).tsRefused === 1, 'the µs msg.ts refused');
    go(2);
    await waitFor(() => (service.health!().section as { pointsRefused: Record<string, number> }).pointsRefused.virt === 3, 'points beyond the cap refused');
    expect(readings.map((r) => r.point)).toEqual(['p0', 'p1', 'p2']);
    // A flow may not impersonate the agent's own event types.
    const errorsBefore = (service.health!().section as { nodeErrors: number }).nodeErrors;
    go(4);
    await waitFor(() => (service.health!().section as { nodeErrors: number }).nodeErrors > errorsBefore, 'the device.fault event refused');
    expect(events).toEqual([]);
    go(3);
    const [e] = await waitFor(() => events.length > 0 && events, 'the event');
    // A plausible past ts is kept as the event's time; the id comes from the ctx, not from it.
    expect(e.id).toMatch(/^CTX0+\d$/);
    expect(Math.abs(e.ts - (Date.now() - 12 * 3600e3))).toBeLessThan(60_000);
    expect(service.health!().problems).toEqual([]);
  });

  it('makes an editor served beyond loopback over plain HTTP a health problem', async () => {
    const { ctx, service } = await setup(`flows:
  editor:
    enabled: true
    users: [{ username: admin, password: "${bcrypt.hashSync('pw-for-the-test', 10)}", permissions: "*" }]
`, { http: '0.0.0.0' });
    await start(service, ctx);
    expect(service.health!().section).toMatchObject({ state: 'running', editor: true });
    expect(service.health!().problems).toEqual([expect.stringMatching(/^flows editor \/editor is served over plain HTTP on 0\.0\.0\.0 \(beyond loopback\)/)]);
  });
});

describe('points per device from flows', () => {
  it('counts known points, refuses new ones beyond the cap per device, and logs once a minute per device', () => {
    const lines: { device?: string; refused?: number }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as { device?: string }) });
    let mono = 0;
    const cap = createPointCap({ max: 3, devices: [{ id: 'lamp', points: ['level', 'power'] }], log, mono: () => mono });
    expect(cap.admit('lamp', 'level')).toBe(true);
    expect(cap.admit('lamp', 'extra')).toBe(true); // the third point
    for (let i = 0; i < 1000; i++) expect(cap.admit('lamp', `made-up-${i}`)).toBe(false);
    expect(cap.admit('lamp', 'power')).toBe(true); // known points stay allowed
    expect(cap.admit('other', 'a')).toBe(true); // another device has its own budget
    expect(cap.refused()).toEqual({ lamp: 1000 });
    expect(lines.filter((l) => l.device === 'lamp')).toHaveLength(1);
    mono += 60_000;
    cap.admit('lamp', 'one-more');
    expect(lines.filter((l) => l.device === 'lamp').at(-1)).toMatchObject({ refused: 1001 });
    // Devices a flow makes up are bounded too.
    for (let i = 0; i < MAX_FLOW_DEVICES + 10; i++) cap.admit(`virtual-${i}`, 'x');
    expect(cap.refused()['*']).toBe(11); // 'other' already took one of the places
  });
});
