// The example flows of flows/examples/, loaded as shipped into the agent's embedded Node-RED and
// driven through the bus: lamp dimming with a fog override, a sustained PM2.5 alarm, and the
// LED screen (panel test devices, then a real Modbus TCP screen served by modbus-serial).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { createImage, startTcpSim, type TcpSim } from './support/modbus/sim.ts';
import { outboxRecords, placeFlows, startFlowsAgent, waitFor, type FlowsAgent } from './support/flows/testing.ts';
import type { WaysideEvent } from '../runtime/types.ts';

const example = (name: string) => JSON.parse(readFileSync(path.join(import.meta.dirname, '../flows/examples', name), 'utf8')) as Record<string, unknown>[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Today at hh:mm gateway local time. */
const at = (h: number, m = 0) => new Date(new Date().setHours(h, m, 0, 0)).getTime();

describe('example flows with panel devices', () => {
  let f: FlowsAgent;
  beforeAll(async () => {
    const boot = await startFlowsAgent('');
    await boot.agent.stop();
    placeFlows(boot.dir, [...example('lamp-dimming.json'), ...example('pm25-alarm.json'), ...example('led-screen.json')]);
    f = await startFlowsAgent(
      `devices:
  - { id: ambient, driver: panel }
  - { id: air, driver: panel }
  - { id: lamp, driver: panel, writable: [level] }
  - { id: led-screen, driver: panel, writable: [pm25, noise] }
`,
      { dir: boot.dir },
    );
    expect(f.agent.health().flows).toMatchObject({ state: 'running', flows: 3, unknownTypes: [] });
  });
  afterAll(async () => {
    await f?.agent.stop();
  });

  it('dims the lamp to 30 % after midnight and back to 100 % in fog', async () => {
    const ambient = f.panels.get('ambient')!;
    const lamp = f.panels.get('lamp')!;
    ambient.emit('fog', false, { ts: at(1, 0) });
    await waitFor(() => lamp.writes.length === 1, 'the night dimming');
    ambient.emit('fog', false, { ts: at(1, 1) }); // unchanged: no second write
    ambient.emit('fog', true, { ts: at(1, 5) });
    await waitFor(() => lamp.writes.length === 2, 'full light in fog');
    ambient.emit('fog', false, { ts: at(1, 20) });
    await waitFor(() => lamp.writes.length === 3, 'dimmed again');
    ambient.emit('fog', false, { ts: at(12, 0) }); // midday: the lamp follows its schedule
    ambient.emit('fog', true, { ts: at(12, 5) });
    await sleep(300);
    expect(lamp.writes).toEqual([{ point: 'level', value: 30 }, { point: 'level', value: 100 }, { point: 'level', value: 30 }]);
  });

  it('raises an alarm when PM2.5 stays above 75 for a minute, and clears it', async () => {
    const air = f.panels.get('air')!;
    const events = () => outboxRecords(f.agent).filter((r) => r.kind === 'event' && r.body.type === 'air.pm25_high').map((r) => r.body as unknown as WaysideEvent);
    const t0 = Date.now() - 10 * 60_000;
    air.emit('pm25', 80, { ts: t0 });
    air.emit('pm25', 90, { ts: t0 + 30_000 });
    air.emit('pm25', 70, { ts: t0 + 40_000 }); // a dip resets the minute
    air.emit('pm25', 85, { ts: t0 + 50_000 });
    air.emit('pm25', 95, { ts: t0 + 100_000 }); // 50 s above: not yet
    await sleep(300);
    expect(events()).toEqual([]);
    air.emit('pm25', 88, { ts: t0 + 111_000 }); // 61 s above
    const [raise] = await waitFor(() => events().length === 1 && events(), 'the alarm in the outbox');
    expect(raise).toMatchObject({ type: 'air.pm25_high', severity: 'warning', state: 'raise', device: 'air', point: 'pm25', ts: t0 + 111_000, data: { value: 88, limit: 75, holdS: 60, since: t0 + 50_000 } });
    air.emit('pm25', 99, { ts: t0 + 130_000 }); // still raised: no repeat
    air.emit('pm25', 40, { ts: t0 + 140_000 });
    const all = await waitFor(() => events().length === 2 && events(), 'the clear');
    expect(all[1]).toMatchObject({ state: 'clear', severity: 'info', data: { value: 40 } });
  });

  it('shows the latest PM2.5 and noise level on the LED screen', async () => {
    const air = f.panels.get('air')!;
    const screen = f.panels.get('led-screen')!;
    await sleep(200); // the alarm test's PM2.5 readings went to the screen too
    const n0 = screen.writes.length;
    air.emit('pm25', 42.4);
    air.emit('noise_db', 61.7);
    await waitFor(() => screen.writes.length >= n0 + 2, 'two screen fields');
    air.emit('pm25', 41.6); // rounds to 42: unchanged, not written
    air.emit('noise_db', 58.2);
    await waitFor(() => screen.writes.length >= n0 + 3, 'the new noise level');
    await sleep(200);
    expect(screen.writes.slice(n0)).toEqual([{ point: 'pm25', value: 42 }, { point: 'noise', value: 62 }, { point: 'noise', value: 58 }]);
  });
});

describe('LED screen example with a real Modbus TCP screen', () => {
  let sim: TcpSim;
  let f: FlowsAgent;
  const screen = createImage({ holding: { 0: [0, 0] } });
  beforeAll(async () => {
    sim = await startTcpSim((u) => (u === 1 ? screen : undefined));
    const boot = await startFlowsAgent('');
    await boot.agent.stop();
    placeFlows(boot.dir, example('led-screen.json'));
    f = await startFlowsAgent(
      `devices:
  - { id: air, driver: panel }
  - id: led-screen
    driver: modbus
    transport: { type: tcp, host: 127.0.0.1, port: ${sim.port} }
    unitId: 1
    interval: 1s
    points:
      - { name: pm25, table: holding, address: 0, type: uint16, writable: true, unit: ug/m3 }
      - { name: noise, table: holding, address: 1, type: uint16, writable: true, unit: dB }
`,
      { dir: boot.dir, drivers: builtinDrivers().filter((d) => d.name === 'modbus') },
    );
  });
  afterAll(async () => {
    await f?.agent.stop();
    await sim?.close();
  });

  it('writes the holding registers of the screen', async () => {
    const air = f.panels.get('air')!;
    air.emit('pm25', 37.2);
    air.emit('noise_db', 64.9);
    await waitFor(() => screen.holding.get(0) === 37 && screen.holding.get(1) === 65, 'registers 0 and 1 = 37, 65');
    // The counter goes up when the write's reply arrives, a moment after the register changed.
    await waitFor(() => (f.agent.health().flows as { writes?: number }).writes === 2, 'two writes counted');
    expect(f.agent.health().flows).toMatchObject({ writes: 2, writeErrors: 0 });
  });
});

describe('pedestrian in the crossing at night → LED sign', () => {
  let f: FlowsAgent;
  beforeAll(async () => {
    const boot = await startFlowsAgent('');
    await boot.agent.stop();
    placeFlows(boot.dir, example('crossing-night-sign.json'));
    f = await startFlowsAgent(
      `devices:
  - { id: cam-north, driver: panel }
  - { id: led-sign, driver: panel, writable: [flash] }
`,
      { dir: boot.dir },
    );
  });
  afterAll(async () => {
    await f?.agent.stop();
  });

  // The camera's video.crossing_warning as the camera driver raises it (models/analytics/crossing.ts).
  let n = 0;
  const warning = (state: 'raise' | 'clear', ts: number): WaysideEvent => ({
    id: `xing-${n++}`, type: 'video.crossing_warning', device: 'cam-north', severity: 'warning', state, ts,
    data: { zone: 'crossing', pedestrians: state === 'raise' ? 1 : 0, vehicles: 0 },
  });

  it('flashes at night while the warning is raised, stays dark by day, stops on clear', async () => {
    const sign = f.panels.get('led-sign')!;
    f.agent.bus.emit('event', warning('raise', at(12, 30))); // midday: no flashing
    await sleep(300);
    expect(sign.writes).toEqual([]);
    f.agent.bus.emit('event', warning('raise', at(22, 15)));
    await waitFor(() => sign.writes.length === 1, 'the sign flashing');
    f.agent.bus.emit('event', warning('clear', at(22, 16)));
    await waitFor(() => sign.writes.length === 2, 'the sign off');
    f.agent.bus.emit('event', { ...warning('raise', at(2, 0)), device: 'cam-south' }); // another camera
    await sleep(300);
    expect(sign.writes).toEqual([{ point: 'flash', value: 1 }, { point: 'flash', value: 0 }]);
  });
});
