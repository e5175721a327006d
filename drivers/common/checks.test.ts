// What the config loader gets from the built-in families: checks across devices (through the
// registry, with the cross-family port check the composition root adds) and each device's points.
import { describe, expect, it } from 'vitest';
import { createDriverRegistry, type IndexedDevice } from '../../runtime/drivers.ts';
import { builtinDrivers, checkSharedPorts } from '../index.ts';

const registry = createDriverRegistry(builtinDrivers(), { crossChecks: [checkSharedPorts] });

/** Devices as the loader hands them over: parsed by their family's schema, with their index. */
function devices(list: Record<string, unknown>[]): IndexedDevice[] {
  return list.map(({ id, driver, ...fields }, index) => ({
    index,
    device: { id: id as string, driver: driver as string, ...registry.get(driver as string)!.schema.parse(fields) },
  }));
}

describe('checks across devices', () => {
  it('names both devices when two poll one address on a port, and discovery sharing a port', () => {
    const issues = registry.checkAll(devices([
      { id: 'a', driver: 'modbus', transport: { type: 'rtu', port: '/dev/ttyS1' }, unitId: 3, points: [{ name: 'x', table: 'input', address: 0 }] },
      { id: 'b', driver: 'modbus', transport: { type: 'rtu', port: '/dev/ttyS1' }, unitId: 3, points: [{ name: 'x', table: 'input', address: 0 }] },
      { id: 'm1', driver: 'dlt645', port: '/dev/ttyS2', address: '000000001234' },
      { id: 'm2', driver: 'dlt645', port: '/dev/ttyS2', address: 'auto' },
      { id: 'gps', driver: 'serial', port: '/dev/ttyS3', profile: 'nmea-gps' },
      { id: 'gps2', driver: 'serial', port: '/dev/ttyS3', profile: 'nmea-gps' },
    ]));
    expect(issues).toEqual([
      { index: 5, path: ['port'], message: 'port /dev/ttyS3 is already read by serial device "gps"; a streaming sensor needs its port to itself' },
      { index: 3, path: ['address'], message: expect.stringContaining('device "m2" discovers its address ("auto"), which needs the port to itself, but "m1" is on it too') },
      { index: 1, path: ['unitId'], message: 'port /dev/ttyS1: address 3 is already polled by device "a"' },
    ]);
  });

  it('accepts devices that share a port properly, across families', () => {
    expect(registry.checkAll(devices([
      { id: 'a', driver: 'modbus', transport: { type: 'rtu', port: '/dev/ttyS1', baudRate: 2400, parity: 'even' }, unitId: 1, points: [{ name: 'x', table: 'input', address: 0 }] },
      { id: 'b', driver: 'modbus', transport: { type: 'rtu', port: '/dev/ttyS1', baudRate: 2400, parity: 'even' }, unitId: 2, points: [{ name: 'x', table: 'input', address: 0 }] },
      { id: 'm', driver: 'dlt645', port: '/dev/ttyS1', address: '000000000001' },
    ]))).toEqual([]);
  });

  it('refuses port settings that disagree within one family', () => {
    const issues = registry.checkAll(devices([
      { id: 'a', driver: 'dlt645', port: '/dev/ttyS1', address: '000000000001' },
      { id: 'b', driver: 'dlt645', port: '/dev/ttyS1', address: '000000000002', baudRate: 9600 },
    ]));
    expect(issues).toEqual([{ index: 1, path: ['baudRate'], message: expect.stringContaining('9600 8E1 disagrees with dlt645 device "a" (2400 8E1)') }]);
  });
});

describe('points', () => {
  it('describes each family\'s points with type, unit, writable and range', () => {
    const [mb, meter, gps, sim] = devices([
      { id: 'lamp', driver: 'modbus', transport: { type: 'tcp', host: 'h' }, profile: 'lamp-controller', points: [{ name: 'dim', table: 'holding', address: 9, writable: true, min: 0, max: 100, unit: '%' }] },
      { id: 'm', driver: 'dlt645', port: '/dev/ttyS1', address: '000000000001', points: ['voltage_a'] },
      { id: 'gps', driver: 'serial', port: '/dev/ttyS3', profile: 'nmea-gps' },
      { id: 's', driver: 'sim', points: ['pm25', 'lamp_level'] },
    ]).map((d) => registry.points(d.device));
    expect(mb).toContainEqual({ name: 'dim', type: 'number', unit: '%', writable: true, min: 0, max: 100 });
    expect(mb!.length).toBeGreaterThan(1);
    expect(meter).toEqual([{ name: 'voltage_a', type: 'number', unit: 'V', writable: false, description: 'phase A voltage' }]);
    expect(gps!.map((p) => p.name)).toEqual(['lat', 'lon', 'alt', 'sats', 'fix', 'hdop', 'time']);
    expect(sim).toEqual([
      { name: 'pm25', type: 'number', unit: 'µg/m³', writable: false },
      expect.objectContaining({ name: 'lamp_level', writable: true, min: 0, max: 100 }),
    ]);
  });
});
