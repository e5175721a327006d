// What the wayside nodes say at run time: a failed write's error (device, point and reason once,
// with the real devices service's and sim driver's wording), `wayside in`'s warning for a filter
// that matches nothing configured, and the health node's status.
import { describe, expect, it } from 'vitest';
import { createDevicesService } from '../../../drivers/service.ts';
import { builtinDrivers } from '../../../drivers/index.ts';
import { parseConfig } from '../../../runtime/config/index.ts';
import { createDriverRegistry } from '../../../runtime/drivers.ts';
import type { AgentHealth } from '../../../runtime/health.ts';
import { filterMismatch, positiveSetting } from './match.ts';
import { healthStatus } from './health.ts';
import { writeErrorText, writeReason } from './write.ts';
import { createSimDriver } from '../../../drivers/sim/index.ts';

describe('write errors', () => {
  it('name device, point and the reason once, for what the sim and the devices service say', async () => {
    // The real wording: the sim driver's error, wrapped by the devices service's WriteError.
    const registry = createDriverRegistry(builtinDrivers());
    const config = parseConfig('version: 1\ngateway: { id: gw, stateDir: /tmp/x }\nuplink: { enabled: false }\ndevices:\n  - { id: pole, driver: sim }\n', 'w.yaml', registry);
    const devices = createDevicesService(registry);
    const silent = { info() {}, warn() {}, error() {}, debug() {}, child() { return silent; } };
    const sim = createSimDriver(config.devices[0] as never, { bus: { emit() {} }, clock: { now: () => Date.now(), flag: () => undefined }, log: silent } as never);
    const simError = await sim.write!('temperature', 5).catch((e: Error) => e.message);
    expect(simError).toBe('sim device "pole" point "temperature": not writable (writable: lamp_level)');
    const wrapped = `device "pole" point "temperature": ${simError}`; // drivers/service.ts's write_failed
    expect(writeErrorText('pole', 'temperature', 5, writeReason('pole', 'temperature', wrapped))).toBe('write 5 to pole/temperature failed: not writable (writable: lamp_level)');
    const unknown = (await devices.write('polx', 'lamp_level', 5).then(() => undefined, (e: unknown) => e)) as Error & { code: string };
    expect(writeReason('polx', 'lamp_level', unknown.message)).toBe('unknown device');
    expect(writeReason('polx', 'lamp_level', unknown.message, { code: unknown.code, configured: ['pole', 'lamp'] })).toBe('unknown device (configured: pole, lamp)');
    expect(writeReason('polx', 'lamp_level', unknown.message, { code: unknown.code, configured: [] })).toBe('unknown device (configured: none)');
    const wide = 'device "pole" point "lamp_level": sim device "pole" point "lamp_level": needs a number 0..100, got 150';
    expect(writeErrorText('pole', 'lamp_level', 150, writeReason('pole', 'lamp_level', wide))).toBe('write 150 to pole/lamp_level failed: needs a number 0..100, got 150');
  });

  it('keep what is not a repetition', () => {
    expect(writeReason('lamp', 'level', 'device "lamp" is not running: port busy')).toBe('device is not running: port busy');
    expect(writeReason('lamp', 'level', 'device "lamp" (driver panel) has no writable points')).toBe('device (driver panel) has no writable points');
    expect(writeReason('lamp', 'level', 'device "lamp" point "level": point "level" is not writable (writable: none)')).toBe('point is not writable (writable: none)');
    expect(writeReason('lamp', 'level', 'no answer within 10000 ms')).toBe('no answer within 10000 ms');
    expect(writeReason('lamp', 'level', 'device "other" point "x": refused')).toBe('device "other" point "x": refused');
    expect(writeReason('a.b', 'c*', 'device "a.b" point "c*": x')).toBe('x');
    expect(writeReason('lamp', 'level', '')).toBe('no reason given');
  });
});

describe('wayside in filter check', () => {
  const devices = [
    { id: 'pole', points: [{ name: 'pm25' }, { name: 'temperature' }] },
    { id: 'pole-2', points: [{ name: 'pm25' }] },
    { id: 'screen' },
  ];
  it('says when no configured device or point matches', () => {
    expect(filterMismatch(devices, 'polx', '')).toBe('no configured device matches "polx"');
    expect(filterMismatch(devices, 'pole', 'tempx')).toBe('no point "tempx" on "pole"');
    expect(filterMismatch(devices, 'pole*', 'noise*')).toBe('no point "noise*" on the matching devices');
    expect(filterMismatch(devices.slice(0, 2), '', 'noise_db')).toBe('no configured point matches "noise_db"');
    expect(filterMismatch([], 'pole', '')).toBe('no configured device matches "pole"');
  });
  it('is quiet when something can match', () => {
    expect(filterMismatch(devices, '', '')).toBeUndefined();
    expect(filterMismatch(devices, 'pole*', 'pm25')).toBeUndefined();
    expect(filterMismatch(devices, '*', 'anything')).toBeUndefined(); // screen's points are unknown
    expect(filterMismatch(devices, 'screen', 'anything')).toBeUndefined();
    expect(filterMismatch([], '', '')).toBeUndefined();
  });
});

describe('health node status', () => {
  const h = (over: Partial<AgentHealth>) => ({ status: 'ok', problems: [], devices: [], ...over }) as unknown as AgentHealth;
  it('shows the agent\'s state and first problem', () => {
    expect(healthStatus(h({}))).toEqual({ fill: 'green', shape: 'dot', text: 'agent ok' });
    expect(healthStatus(h({ status: 'degraded', problems: ['uplink down', 'disk full'] }))).toEqual({ fill: 'yellow', shape: 'ring', text: 'agent degraded: uplink down (+1 more)' });
  });
  it('shows the watched device\'s state', () => {
    const devices = [
      { device: 'pole', driver: 'sim', state: 'online', errors: 0, readings: 3 },
      { device: 'meter', driver: 'modbus', state: 'offline', errors: 4, readings: 0, lastError: 'timeout' },
    ] as AgentHealth['devices'];
    expect(healthStatus(h({ devices }), 'pole')).toEqual({ fill: 'green', shape: 'dot', text: 'pole online' });
    expect(healthStatus(h({ devices }), 'meter')).toEqual({ fill: 'red', shape: 'ring', text: 'meter offline: timeout' });
    expect(healthStatus(h({ devices }), 'nope')).toEqual({ fill: 'red', shape: 'ring', text: 'unknown device "nope"' });
  });
});

describe('number settings deployed without the editor', () => {
  it('take the default for empty, and say so for zero, negative or not a number', () => {
    const said: string[] = [];
    const warn = (t: string) => said.push(t);
    expect(positiveSetting('', 100, 'Max msgs/s (node config)', warn)).toBe(100);
    expect(positiveSetting(undefined, 100, 'Max msgs/s (node config)', warn)).toBe(100);
    expect(positiveSetting(25, 100, 'Max msgs/s (node config)', warn)).toBe(25);
    expect(positiveSetting('2.5', 100, 'Max msgs/s (node config)', warn)).toBe(2.5);
    expect(said).toEqual([]);
    expect(positiveSetting('-1', 10, 'Timeout (node config)', warn)).toBe(10);
    expect(positiveSetting(0, 100, 'Max msgs/s (node config)', warn)).toBe(100);
    expect(positiveSetting('fast', 100, 'Max msgs/s (node config)', warn)).toBe(100);
    expect(said).toEqual([
      'Timeout (node config): expected a number more than 0, got "-1"; using the agent\'s default (10)',
      'Max msgs/s (node config): expected a number more than 0, got 0; using the agent\'s default (100)',
      'Max msgs/s (node config): expected a number more than 0, got "fast"; using the agent\'s default (100)',
    ]);
  });
});
