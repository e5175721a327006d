// What `wayside check` gets from the built-in families: checks across devices (each family's
// checkAll, plus the cross-family port check the composition root passes to the loader),
// reported with file:line like any other config error, and each device's points.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers, checkSharedPorts } from '../index.ts';

const registry = createDriverRegistry(builtinDrivers());
const FILE = path.join('/etc/wayside', 'wayside.yaml');

function load(devices: string): ReturnType<typeof parseConfig> {
  return parseConfig(`version: 1\ngateway: { id: g1 }\nuplink: { enabled: false }\ndevices:\n${devices}`, FILE, registry, {}, { checks: [checkSharedPorts] });
}

function problems(devices: string): string[] {
  try {
    load(devices);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('checks across devices', () => {
  it('names both devices when two poll one address on a port, and discovery sharing a port', () => {
    const issues = problems(`  - { id: a, driver: modbus, transport: { type: rtu, port: /dev/ttyS1 }, unitId: 3, points: [{ name: x, table: input, address: 0 }] }
  - { id: b, driver: modbus, transport: { type: rtu, port: /dev/ttyS1 }, unitId: 3, points: [{ name: x, table: input, address: 0 }] }
  - { id: m1, driver: dlt645, port: /dev/ttyS2, address: "000000001234" }
  - { id: m2, driver: dlt645, port: /dev/ttyS2, address: auto }
  - { id: gps, driver: serial, port: /dev/ttyS3, profile: nmea-gps }
  - { id: gps2, driver: serial, port: /dev/ttyS3, profile: nmea-gps }
`);
    expect(issues).toEqual(expect.arrayContaining([
      '6: devices[1].unitId: port /dev/ttyS1: address 3 is already polled by device "a"',
      expect.stringMatching(/^8: devices\[3\]\.address: .*device "m2" discovers its address \("auto"\), which needs the port to itself, but "m1" is on it too/),
      '10: devices[5].port: port /dev/ttyS3 is already read by serial device "gps"; a streaming sensor needs its port to itself',
    ]));
    expect(issues).toHaveLength(3);
  });

  it('accepts devices that share a port properly, across families', () => {
    expect(problems(`  - { id: a, driver: modbus, transport: { type: rtu, port: /dev/ttyS1, baudRate: 2400, parity: even }, unitId: 1, points: [{ name: x, table: input, address: 0 }] }
  - { id: b, driver: modbus, transport: { type: rtu, port: /dev/ttyS1, baudRate: 2400, parity: even }, unitId: 2, points: [{ name: x, table: input, address: 0 }] }
  - { id: m, driver: dlt645, port: /dev/ttyS1, address: "000000000001" }
`)).toEqual([]);
  });

  it('refuses port settings that disagree, within one family and across families', () => {
    expect(problems(`  - { id: a, driver: dlt645, port: /dev/ttyS1, address: "000000000001" }
  - { id: b, driver: dlt645, port: /dev/ttyS1, address: "000000000002", baudRate: 9600 }
`)).toEqual([expect.stringMatching(/^6: devices\[1\]\.baudRate: .*9600 8E1 disagrees with dlt645 device "a" \(2400 8E1\)/)]);
    const cross = problems(`  - { id: m, driver: dlt645, port: /dev/ttyS1, address: "000000000001" }
  - { id: a, driver: modbus, transport: { type: rtu, port: /dev/ttyS1, baudRate: 9600 }, unitId: 1, points: [{ name: x, table: input, address: 0 }] }
`);
    expect(cross).toHaveLength(1);
    expect(cross[0]).toMatch(/^6: devices\[1\]/);
    expect(cross[0]).toMatch(/disagrees/);
  });
});

describe('points', () => {
  it('describes each family\'s points with type, unit, writable and range, and the loader refuses unknown ones', () => {
    const config = load(`  - { id: lamp, driver: modbus, transport: { type: tcp, host: h }, profile: lamp-controller, points: [{ name: dim, table: holding, address: 9, writable: true, min: 0, max: 100, unit: "%" }] }
  - { id: m, driver: dlt645, port: /dev/ttyS1, address: "000000000001", points: [voltage_a] }
  - { id: gps, driver: serial, port: /dev/ttyS3, profile: nmea-gps }
  - { id: s, driver: sim, points: [pm25, lamp_level] }
`);
    const [mb, meter, gps, sim] = config.devices.map((d) => registry.get(d.driver)!.points!(d));
    expect(mb).toContainEqual({ name: 'dim', type: 'number', unit: '%', writable: true, min: 0, max: 100 });
    expect(mb!.length).toBeGreaterThan(1);
    expect(meter).toEqual([{ name: 'voltage_a', type: 'number', unit: 'V', writable: false, description: 'phase A voltage' }]);
    expect(gps!.map((p) => p.name)).toEqual(['lat', 'lon', 'alt', 'sats', 'fix', 'hdop', 'time']);
    expect(sim).toEqual([
      { name: 'pm25', type: 'number', unit: 'µg/m³', writable: false },
      expect.objectContaining({ name: 'lamp_level', writable: true, min: 0, max: 100 }),
    ]);
    expect(problems(`  - { id: m, driver: dlt645, port: /dev/ttyS1, address: "000000000001", points: [voltage_a], perPoint: { voltage_b: { publish: raw } } }
`)).toEqual([expect.stringMatching(/^5: devices\[0\]\.perPoint\.voltage_b: unknown point "voltage_b" of device "m"/)]);
  });
});
