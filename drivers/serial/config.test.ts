// `wayside check` catches a serial device with both or neither of profile/format at load time,
// with file:line, through the driver's check() hook.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';

const load = (device: string) =>
  parseConfig(`version: 1\ngateway: { id: g1 }\nuplink: { enabled: false }\ndevices:\n  - ${device}\n`, '/tmp/wayside.yaml', createDriverRegistry(builtinDrivers()), {});

describe('serial device config', () => {
  it.each([
    ['{ id: pm, driver: serial, port: /dev/ttyUSB1 }', 'wayside.yaml:5 devices[0].profile: needs a profile (like pms5003) or a format'],
    ['{ id: pm, driver: serial, port: /dev/ttyUSB1, profile: pms5003, format: { type: nmea } }', 'wayside.yaml:5 devices[0].format: give either profile or format, not both'],
  ])('%s', (device, message) => {
    expect(() => load(device)).toThrow(message);
  });

  it('accepts a profile alone', () => {
    expect(load('{ id: pm, driver: serial, port: /dev/ttyUSB1, profile: pms5003 }').devices[0]).toMatchObject({ id: 'pm', profile: { ref: 'pms5003', baudRate: 9600 } });
  });
});
