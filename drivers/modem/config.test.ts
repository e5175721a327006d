// Modem devices through the real config loader: defaults, errors named by file, line and path,
// one modem per port, the exclusive port across families, and the example of docs/drivers/modem.md.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { checkPortsAcrossFamilies } from '../common/port-checks.ts';
import { builtinDrivers } from '../index.ts';
import { modemPortUse } from './definition.ts';
import type { ModemConfig } from './schema.ts';

// The modem family is not in builtinDrivers() until the lead registers it (see the report).
const registry = () => createDriverRegistry(builtinDrivers());
const HEAD = 'version: 1\ngateway: { id: g1 }\nuplink: { enabled: false }\n';
const load = (devices: string) => parseConfig(`${HEAD}devices:\n${devices}`, '/tmp/wayside.yaml', registry(), {});

describe('modem device config', () => {
  it('defaults: 115200 baud, 30 s interval, 2 s timeout, qeng auto, SINR in fifths of a dB', () => {
    const d = load('  - { id: wan, driver: modem, port: /dev/ttyUSB2 }\n').devices[0];
    expect(d).toMatchObject({ id: 'wan', driver: 'modem', port: '/dev/ttyUSB2', baudRate: 115200, interval: 30_000, timeout: 2000, maxBackoff: 120_000, commands: { qeng: 'auto', qengSinr: 'fifths' } });
  });

  it.each([
    ['{ id: wan, driver: modem }', 'wayside.yaml:5 devices[0].port: missing required field'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, baudRate: 115201 }', 'wayside.yaml:5 devices[0].baudRate: expected one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, got 115201'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, timeout: 50ms }', 'wayside.yaml:5 devices[0].timeout: expected duration 100ms-30s'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, interval: 100ms }', 'wayside.yaml:5 devices[0].interval: expected duration 1s-1h'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, commands: { qeng: maybe } }', 'wayside.yaml:5 devices[0].commands.qeng: expected one of auto, on, off, got "maybe"'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, commands: { qengSinr: tenths } }', 'wayside.yaml:5 devices[0].commands.qengSinr: expected one of fifths, db, got "tenths"'],
    ['{ id: wan, driver: modem, port: /dev/ttyUSB2, commands: { qeg: on } }', 'wayside.yaml:5 devices[0].commands: unknown field "qeg"'],
  ])('%s', (device, message) => {
    expect(() => load(`  - ${device}\n`)).toThrow(message);
  });

  it('refuses two modems on one AT port, naming the second', () => {
    expect(() => load('  - { id: wan, driver: modem, port: /dev/ttyUSB2 }\n  - { id: wan2, driver: modem, port: /dev/ttyUSB2 }\n'))
      .toThrow('wayside.yaml:6 devices[1].port: port /dev/ttyUSB2 is already the AT port of modem device "wan"; a modem needs its port to itself');
  });

  it('declares its port exclusive for the cross-family check (drivers/index.ts checkSharedPorts)', () => {
    const modem = { id: 'wan', driver: 'modem', port: '/dev/ttyUSB2' } as { id: string; driver: string } & ModemConfig;
    const issues = checkPortsAcrossFamilies([
      modemPortUse(0, modem),
      { index: 1, device: 'meter', family: 'dlt645', key: '/dev/ttyUSB2', settings: '2400 8E1', address: '000000001234', settingsPath: ['baudRate'], addressPath: ['address'] },
    ]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ index: 1, message: expect.stringMatching(/^port \/dev\/ttyUSB2 .*modem device "wan"/) });
  });

  it('loads the complete example of docs/drivers/modem.md', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/drivers/modem.md', import.meta.url)), 'utf8');
    const yaml = /## A complete example\s+```yaml\n([\s\S]*?)```/.exec(doc)![1];
    const config = parseConfig(HEAD + yaml, '/nonexistent/wayside.yaml', registry(), {});
    expect(config.devices.map((d) => [d.id, d.driver, (d as unknown as ModemConfig).port])).toEqual([
      ['backhaul', 'modem', '/dev/ttyUSB2'],
      ['backhaul-nbiot', 'modem', '/dev/serial/by-id/usb-Quectel_Incorporated_BG96-if02-port0'],
    ]);
    expect(config.devices[1]).toMatchObject({ interval: 60_000, timeout: 5000, commands: { qeng: 'on', qengSinr: 'fifths' } });
  });
});
