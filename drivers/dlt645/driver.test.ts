// The DL/T 645 driver against simulated meters on a real pty pair: several meters on one bus,
// error replies, a dead meter among live ones, address discovery, config and port sharing.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';
import { dlt645Schema } from './index.ts';
import { PortConflictError } from './errors.ts';
import { startLive, until, sleep, type Live } from '../../test/support/dlt645/live.ts';

const A = '000000001234';
const B = '000000005678';
const C = '112233445566';

const FULL = {
  energy_total: 1206.42, energy_combined: -12.5, energy_export: 3.01, reactive_energy_1: 45.67, reactive_energy_2: 0,
  voltage_a: 220.1, voltage_b: 219.8, voltage_c: 231, current_a: 5.123, current_b: -0.25, current_c: 0,
  power_total: 3.4567, power_a: 1.1, power_b: -0.0123, power_c: 2.3, reactive_power_total: -0.5,
  pf_total: 0.985, pf_a: -0.5, pf_b: 1, pf_c: 0.8, frequency: 49.98,
};

let live: Live | undefined;
afterEach(async () => {
  await live?.close();
  live = undefined;
});

const faults = (l: Live, device: string, state: 'raise' | 'clear') => l.events.filter((e) => e.type === 'device.fault' && e.device === device && e.state === state);

describe('dlt645 config', () => {
  it('defaults the line to 2400 8E1 and every known point', () => {
    const cfg = dlt645Schema.parse({ port: '/dev/ttyUSB0', address: A });
    expect(cfg).toMatchObject({ baudRate: 2400, parity: 'even', stopBits: 1, interval: 10_000, timeout: 1000, gap: 50, preamble: 4, maxBackoff: 60_000 });
    expect(cfg.points).toEqual(Object.keys(FULL).sort((x, y) => cfg.points.indexOf(x) - cfg.points.indexOf(y)));
    expect(cfg.points).toHaveLength(21);
  });

  it('explains bad addresses, baud rates and points', () => {
    const issue = (fields: Record<string, unknown>) => dlt645Schema.safeParse({ port: '/dev/ttyUSB0', address: A, ...fields }).error?.issues[0].message;
    expect(issue({ address: 1234 })).toMatch(/expected the address quoted, like "000000001234" \(YAML reads unquoted digits as the number 1234/);
    expect(issue({ address: '1234' })).toBe('expected 12 digits as printed on the meter, like "000000001234", or "auto", got "1234"');
    expect(issue({ baudRate: 9601 })).toBe('expected one of 1200, 2400, 4800, 9600, 19200, got 9601');
    expect(issue({ points: ['voltage_d'] })).toMatch(/expected one of energy_total, .*frequency, got "voltage_d"/);
    expect(dlt645Schema.safeParse({ port: '/dev/ttyUSB0', address: 'auto' }).success).toBe(true);
  });

  it('loads the example of docs/drivers/dlt645.md; an unquoted address is named by file and line', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/drivers/dlt645.md', import.meta.url)), 'utf8');
    const yaml = /## A complete example\s+```yaml\n([\s\S]*?)```/.exec(doc)![1];
    const head = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\n';
    const registry = createDriverRegistry(builtinDrivers());
    const config = parseConfig(head + yaml, '/nonexistent/wayside.yaml', registry, {});
    expect(config.devices.map((d) => [d.id, (d as unknown as { address: string }).address])).toEqual([
      ['meter-a', A], ['meter-b', B], ['meter-pole-7', 'auto'],
    ]);
    const bad = head + 'devices:\n  - id: m\n    driver: dlt645\n    port: /dev/ttyUSB0\n    address: 000000001234\n';
    expect(() => parseConfig(bad, '/nonexistent/wayside.yaml', registry, {})).toThrow(/wayside\.yaml:8 devices\[0\]\.address: expected the address quoted/);
  });

  it('is a built-in driver, each builtinDrivers() call with its own port registry', async () => {
    const [d1, d2] = [builtinDrivers(), builtinDrivers()].map((l) => l.find((d) => d.name === 'dlt645')!);
    expect(d1).toBeDefined();
    expect(d1).not.toBe(d2);
    live = await startLive([{ address: A, values: FULL }]);
    // The same address on the same port is a conflict within one agent, but not across two.
    const cfg = { id: 'm', driver: 'dlt645', ...dlt645Schema.parse({ port: live.pair.a, address: A }) };
    const m1 = await d1.create(cfg, live.ctx);
    const m2 = await d2.create(cfg, live.ctx);
    await m1.start();
    await m2.start();
    await Promise.all([m1.stop(), m2.stop()]);
  });
});

describe('dlt645 meters on one bus', () => {
  it('reads every point of several meters with the standard scaling, one exchange at a time', async () => {
    live = await startLive([
      { address: A, values: FULL },
      { address: B, values: { ...FULL, energy_total: 99.99, voltage_a: 230.4 } },
      { address: C, values: { energy_total: 0.01, current_a: -7.5 } },
    ]);
    const a = await live.meter('meter-a', { address: A });
    const b = await live.meter('meter-b', { address: B, points: ['energy_total', 'voltage_a'] });
    const c = await live.meter('meter-c', { address: C, points: ['energy_total', 'current_a'] });
    const l = live;
    await until(() => Object.keys(FULL).every((p) => l.last('meter-a', p)) && !!l.last('meter-b', 'voltage_a') && !!l.last('meter-c', 'current_a'));
    for (const [point, value] of Object.entries(FULL)) expect(l.last('meter-a', point)?.value, point).toBe(value);
    expect(l.last('meter-a', 'energy_total')).toMatchObject({ unit: 'kWh', quality: 'good' });
    expect(l.last('meter-a', 'voltage_a')?.unit).toBe('V');
    expect(l.last('meter-a', 'current_b')?.unit).toBe('A');
    expect(l.last('meter-a', 'power_total')?.unit).toBe('kW');
    expect(l.last('meter-a', 'frequency')?.unit).toBe('Hz');
    expect(l.last('meter-a', 'pf_total')?.unit).toBeUndefined();
    expect([l.last('meter-b', 'energy_total')?.value, l.last('meter-b', 'voltage_a')?.value]).toEqual([99.99, 230.4]);
    expect([l.last('meter-c', 'energy_total')?.value, l.last('meter-c', 'current_a')?.value]).toEqual([0.01, -7.5]);
    // One serial line and one queue: the three devices see the same port counters, and no
    // request ever went out while a meter's reply was still due.
    const [ha, hb, hc] = [a.health(), b.health(), c.health()];
    expect(ha.port).toEqual(hb.port);
    expect(hb.port).toEqual(hc.port);
    expect(ha.port).toMatchObject({ opens: 1, badFrames: 0, garbageBytes: 0 });
    expect(l.sim.overlaps()).toBe(0);
    expect(ha).toMatchObject({ state: 'online', errors: 0, address: A });
    expect(l.sim.meter(B).requests).toBeGreaterThan(0);
    expect(l.events.filter((e) => e.type === 'device.fault')).toEqual([]);
  });

  it('turns an error reply into a per-point fault naming device, address, DI and error bits', async () => {
    const { voltage_b: _vb, ...values } = FULL;
    live = await startLive([{ address: A, values, errors: { current_b: 0x04 } }]);
    const m = await live.meter('meter-a', { address: A, points: ['voltage_a', 'voltage_b', 'current_b'] });
    const l = live;
    const pf = () => l.events.filter((e) => e.type === 'device.point_fault');
    await until(() => pf().length >= 2 && !!l.last('meter-a', 'voltage_a'));
    const vb = pf().find((e) => e.point === 'voltage_b')!;
    expect(vb).toMatchObject({ device: 'meter-a', state: 'raise', severity: 'warning', data: { driver: 'dlt645', address: A, di: '02010200', errorByte: 0x02, errors: ['no data requested'] } });
    expect(vb.data.error).toBe(`dlt645 device "meter-a" (address ${A} on ${l.pair.a}) point "voltage_b" DI 02 01 02 00: meter replied error 0x02 (no data requested)`);
    expect(pf().find((e) => e.point === 'current_b')?.data).toMatchObject({ errorByte: 0x04, errors: ['password error or unauthorized'] });
    const h = m.health();
    expect(h.state).toBe('online'); // it answered: alive, only the point is refused
    expect(h.pointErrors.current_b).toMatch(/DI 02 02 02 00: meter replied error 0x04 \(password error or unauthorized\)/);
    expect(h.errorReplies).toBeGreaterThanOrEqual(2);
    expect(h.errorsByKind.exception).toBe(h.errorReplies);
    // One raise per point while it keeps refusing; a clear once it answers again.
    await until(() => m.health().errorReplies >= 6);
    expect(pf().filter((e) => e.point === 'voltage_b')).toHaveLength(1);
    l.sim.meter(A).values.voltage_b = 218.5;
    await until(() => l.last('meter-a', 'voltage_b')?.value === 218.5, 4000);
    expect(pf().filter((e) => e.point === 'voltage_b').at(-1)).toMatchObject({ state: 'clear', data: { recovered: true } });
    expect(m.health().pointErrors.voltage_b).toBeUndefined();
    expect(faults(l, 'meter-a', 'raise')).toEqual([]);
  });

  it('keeps polling live meters while one is dead, backs the dead one off, raises and clears its fault', async () => {
    live = await startLive([{ address: A, values: FULL }, { address: B, values: FULL, silent: true }, { address: C, values: FULL }]);
    // 300 ms timeouts: enough margin for a loaded CI machine that live meters never look dead.
    const points = ['energy_total', 'voltage_a'];
    await live.meter('meter-a', { address: A, points, timeout: '300ms' });
    const b = await live.meter('meter-b', { address: B, points, timeout: '300ms' });
    await live.meter('meter-c', { address: C, points, timeout: '300ms' });
    const l = live;
    const t0 = Date.now();
    await until(() => faults(l, 'meter-b', 'raise').length === 1, 3000, 'meter-b fault');
    await sleep(2500);
    const secs = (Date.now() - t0) / 1000;
    // A and C keep their 100 ms cadence give or take a 300 ms timeout per attempt at B.
    const count = (d: string) => l.readings.filter((r) => r.device === d && r.point === 'voltage_a').length;
    expect(count('meter-a')).toBeGreaterThan(secs * 3);
    expect(count('meter-c')).toBeGreaterThan(secs * 3);
    // B: one attempt per cycle (the cycle ends at the first timeout), spaced out by backoff.
    expect(l.sim.meter(B).requests).toBeLessThan(secs * 3);
    expect(l.sim.meter(A).requests).toBeGreaterThan(l.sim.meter(B).requests * 3);
    expect(b.health()).toMatchObject({ state: 'offline', lastError: expect.stringMatching(/^timeout: dlt645 device "meter-b" \(address 000000005678 .*no reply within 300 ms/) });
    expect(faults(l, 'meter-b', 'raise')[0].data).toMatchObject({ driver: 'dlt645', kind: 'timeout' });
    l.sim.meter(B).silent = false;
    await until(() => faults(l, 'meter-b', 'clear').length === 1, 3000, 'meter-b clear');
    await until(() => !!l.last('meter-b', 'voltage_a'));
    expect(b.health().state).toBe('online');
    expect([...faults(l, 'meter-a', 'raise'), ...faults(l, 'meter-c', 'raise')]).toEqual([]);
  });
});

describe('dlt645 address discovery', () => {
  it('finds the address of the only meter on the bus and polls it', async () => {
    live = await startLive([{ address: '998877665544', values: FULL }]);
    const m = await live.meter('meter-x', { address: 'auto', points: ['energy_total'] });
    const l = live;
    await until(() => l.last('meter-x', 'energy_total')?.value === 1206.42);
    expect(m.health()).toMatchObject({ address: '998877665544', state: 'online' });
  });

  it('reports a clear error when several meters answer the broadcast', async () => {
    live = await startLive([{ address: A, values: FULL }, { address: B, values: FULL }]);
    const m = await live.meter('meter-x', { address: 'auto', points: ['energy_total'] });
    await until(() => m.health().errors > 0);
    expect(m.health().lastError).toMatch(/discovery with address "auto" needs exactly one meter on the bus/);
    expect(m.health().address).toBe('auto');
    expect(live.readings).toEqual([]);
  });

  it('refuses devices that cannot share a port', async () => {
    live = await startLive([{ address: A, values: FULL }]);
    await live.meter('meter-a', { address: A, points: ['energy_total'] });
    await expect(live.meter('meter-x', { address: 'auto' })).rejects.toThrow(PortConflictError);
    await expect(live.meter('meter-y', { address: A })).rejects.toThrow(/address 000000001234 is already polled by device "meter-a"/);
    const slow = live.meter('meter-z', { address: B, baudRate: 2400 });
    await expect(slow).rejects.toThrow(/line settings 2400 8E1 differ from device "meter-a" \(19200 8E1\)/);
  });
});
