// Profiles: one golden test per shipped profile (a ServerTCP device with a known register image
// -> the exact readings), profile errors naming file, line and point, overrides by name, and a
// modbus device going through the real config loader.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { parseConfig } from '../../runtime/config/index.ts';
import { builtinDrivers } from '../index.ts';
import { listProfiles, loadProfile, parseProfile } from './profiles.ts';
import { createDevice, modbusDefinition, recordingCtx, until } from '../../test/support/modbus/ctx.ts';
import type { ModbusConfigInput } from './schema.ts';
import { createImage, startTcpSim, type RegisterImage } from '../../test/support/modbus/sim.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function readOnce(profile: string, img: RegisterImage, extra: object = {}) {
  const s = await startTcpSim(() => img);
  cleanup.push(() => s.close());
  const rec = recordingCtx();
  const dev = await createDevice(modbusDefinition(), 'dut', { transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, interval: '1s', timeout: '500ms', profile, ...extra } as ModbusConfigInput, rec.ctx);
  cleanup.push(() => dev.stop());
  await dev.start();
  const n = dev.plan().reduce((k, b) => k + b.points.length, 0);
  await until(() => rec.readings.length >= n, 3000, `${n} readings`);
  const out: Record<string, unknown> = {};
  for (const r of rec.readings) out[r.point] = r.unit === undefined ? r.value : [r.value, r.unit];
  return { out, dev };
}

describe('shipped profiles', () => {
  it('are the three simulated device models', () => {
    expect(listProfiles()).toEqual(['energy-meter', 'lamp-controller', 'pm-sensor']);
  });

  it('energy-meter golden readings', async () => {
    const img = createImage({
      input: {
        0: [0x4366, 0x199a, 0x4368, 0x6666, 0x4365, 0xcccd, 0x40a8, 0x0000, 0x4098, 0x0000, 0x40d0, 0x0000, 0x405d, 0x2f1b, 4998, 0xfc4a],
        32: [0x0012, 0xd687, 0x0000, 0x0000, 0x0001, 0xe240],
      },
    });
    const { out, dev } = await readOnce('energy-meter', img);
    expect(out).toEqual({
      voltage_a: [230.1, 'V'], voltage_b: [232.4, 'V'], voltage_c: [229.8, 'V'],
      current_a: [5.25, 'A'], current_b: [4.75, 'A'], current_c: [6.5, 'A'],
      active_power: [3.456, 'kW'], frequency: [49.98, 'Hz'], power_factor: -0.95,
      energy_import: [12345.67, 'kWh'], energy_export: [123.456, 'kWh'],
    });
    expect(dev.plan().map((b) => [b.fn, b.address, b.count])).toEqual([[4, 0, 16], [4, 32, 6]]);
  });

  it('lamp-controller golden readings', async () => {
    const img = createImage({
      coils: { 0: [true] },
      holding: { 0: [40, 523, 0x86a0, 0x0001, 2301, 0b10, 0, 0, 0x0000, 0x437a, 0x4c43, 0x2d32, 0x3030, 0x0000] },
    });
    const { out, dev } = await readOnce('lamp-controller', img);
    expect(out).toEqual({
      lamp_on: true, dim_level: [40, '%'], lamp_power: [52.3, 'W'], running_hours: [100000, 'h'], lamp_voltage: [230.1, 'V'],
      lamp_failure: false, driver_overtemp: true, power_limit: [250, 'W'], model_name: 'LC-200',
    });
    expect(dev.plan().map((b) => [b.fn, b.address, b.count])).toEqual([[1, 0, 1], [3, 0, 14]]);
  });

  it('pm-sensor golden readings', async () => {
    const img = createImage({ discrete: { 0: [false] }, input: { 0: [35, 52, 0xff9c, 655] } });
    const { out } = await readOnce('pm-sensor', img);
    expect(out).toEqual({ pm2_5: [35, 'ug/m3'], pm10: [52, 'ug/m3'], temperature: [-10, 'degC'], humidity: [65.5, '%RH'], sensor_fault: false });
  });

  it('inline points override profile points by name and add new ones', async () => {
    const img = createImage({ discrete: { 0: [true] }, input: { 0: [35, 52, 215, 655], 10: [7] } });
    const { out, dev } = await readOnce('pm-sensor', img, {
      points: [
        { name: 'temperature', table: 'input', address: 2, type: 'int16', scale: 0.01, unit: 'degC' },
        { name: 'co2_alarm', table: 'input', address: 10 },
      ],
    });
    expect(out).toMatchObject({ temperature: [2.15, 'degC'], co2_alarm: 7, sensor_fault: true });
    // 0..10 bridged the unmapped 4..9; the device refused (exception 2) and the read was split.
    expect(dev.plan().map((b) => [b.fn, b.address, b.count])).toEqual([[2, 0, 1], [4, 0, 4], [4, 10, 1]]);
    expect(dev.health().errors).toBe(0);
  });
});

describe('profile errors', () => {
  it('name the file, line, point and field', () => {
    const text = ['model: x', 'points:', '  - { name: ok, table: input, address: 0 }', '  - { name: volts, table: input, address: 2, type: flaot32 }', '  - { name: c, table: coil, address: 1, type: uint16, scale: 2 }', ''].join('\n');
    expect(() => parseProfile(text, '/tmp/bad-meter.yaml')).toThrow(
      [
        'profile bad-meter.yaml:4 points[1] (volts).type: expected one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string, got "flaot32"',
      ].join('\n'),
    );
    expect(() => parseProfile(text.replace('flaot32', 'float32'), '/tmp/bad-meter.yaml')).toThrow(
      'profile bad-meter.yaml:5 points[2] (c).type: a coil holds one bit: expected type bool, got "uint16"\nprofile bad-meter.yaml:5 points[2] (c).scale: not used for a coil point (one bit)',
    );
    expect(() => parseProfile('points:\n  - { name: a, table: input, address: 0, type: string }\n  - { name: a, table: input, address: 9 }\n', '/x/p.yaml')).toThrow(
      'profile p.yaml:2 points[0] (a).length: missing required field (registers of the string)\nprofile p.yaml:3 points[1] (a).name: duplicate point name "a" (also points[0])',
    );
    expect(() => loadProfile('no-such-meter')).toThrow(/profile "no-such-meter": cannot read .*no-such-meter.yaml: no such file \(shipped modbus profiles: energy-meter, lamp-controller, pm-sensor\)/);
  });

  it('surface through the config loader at the device that names the profile', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-modbus-'));
    const prof = path.join(dir, 'broken.yaml');
    writeFileSync(prof, 'points:\n  - { name: x, table: discrete, address: 0, writable: true }\n');
    const registry = createDriverRegistry(builtinDrivers().filter((d) => d.name === 'modbus'));
    const yaml = (profile: string) => [
      'version: 1', 'gateway: { id: gw-1 }', 'uplink: { enabled: false }', 'devices:',
      '  - id: meter-1', '    driver: modbus', '    transport: { type: rtu, port: /dev/ttyUSB0, baudRate: 9600 }',
      '    unitId: 1', '    interval: 5s', `    profile: ${profile}`,
      '    points:', '      - { name: voltage_a, table: input, address: 0, type: float32, order: CDAB, unit: V, deadband: 0.5 }', '',
    ].join('\n');
    const cfg = parseConfig(yaml('energy-meter'), path.join(dir, 'wayside.yaml'), registry);
    const d = cfg.devices[0] as Record<string, unknown>;
    expect(d.transport).toEqual({ type: 'rtu', port: '/dev/ttyUSB0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 });
    expect(d).toMatchObject({ interval: 5000, timeout: 1000, retries: 1, unitId: 1 });
    expect(() => parseConfig(yaml(prof), path.join(dir, 'wayside.yaml'), registry)).toThrow(
      `wayside.yaml:10 devices[0].profile: profile broken.yaml:2 points[0] (x).writable: a discrete point is read-only by protocol`,
    );
    expect(() => parseConfig(yaml('energy-meter').replace('type: rtu,', 'type: rtux,'), path.join(dir, 'wayside.yaml'), registry)).toThrow(
      /wayside.yaml:7 devices\[0\]\.transport\.type: unknown transport type "rtux" \(expected tcp, rtu or rtu-over-tcp\)/,
    );
  });
});
