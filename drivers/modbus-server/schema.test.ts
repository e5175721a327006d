// The `modbusServer:` section through the real config loader: defaults, the example of
// docs/modbus-server.md, and every in-section mistake reported at its path and line (overlaps,
// a type that runs past 65535, writes to input registers, bad allow-list entries, host names).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';
import { createAllowList } from './allow.ts';
import { modbusServerSection, type ModbusServerConfig } from './schema.ts';

const registry = () => createDriverRegistry(builtinDrivers(), { sections: { modbusServer: modbusServerSection } });
const HEAD = 'version: 1\ngateway: { id: mbs, stateDir: /tmp/wayside-mbs-schema }\nuplink: { enabled: false }\ndevices:\n  - { id: pole, driver: sim, points: [lamp_level, temperature] }\n';

/** Parses a whole file; returns its modbusServer section or the loader's error text. */
function load(text: string): ModbusServerConfig | string {
  try {
    const c = parseConfig(text, '/etc/wayside/wayside.yaml', registry()) as unknown as Record<string, unknown>;
    // runtime/config/resolve.ts does not (yet) copy product sections: parse the same text's section.
    return (c.modbusServer ?? modbusServerSection.parse((parseYaml(text) as Record<string, unknown>).modbusServer)) as ModbusServerConfig;
  } catch (err) {
    return (err as Error).message;
  }
}

const server = (body: string) => load(`${HEAD}modbusServer:\n${body}`);

describe('modbusServer config', () => {
  it('is off with safe defaults when absent', () => {
    expect(load(HEAD)).toEqual({
      enabled: false, host: '127.0.0.1', port: 5020, unitId: 1, allow: ['127.0.0.1', '::1'], maxClients: 8, idleTimeout: 300_000, registers: [],
    });
  });

  it('fills every register default like a Modbus device point', () => {
    const c = server(`  enabled: true
  unitId: any
  staleAfter: 2m
  registers:
    - { point: pole/temperature, table: input, address: 10, type: float32, order: CDAB, quality: { address: 12 }, age: { address: 13 } }
    - { point: pole/lamp_level, table: holding, address: 0, writable: true, staleAfter: 30s }
`) as ModbusServerConfig;
    expect(c.unitId).toBe(255);
    expect(c.staleAfter).toBe(120_000);
    expect(c.registers).toEqual([
      { point: 'pole/temperature', device: 'pole', name: 'temperature', table: 'input', address: 10, type: 'float32', order: 'CDAB', scale: 1, offset: 0, quality: { address: 12 }, age: { address: 13, unit: 's' }, writable: false },
      { point: 'pole/lamp_level', device: 'pole', name: 'lamp_level', table: 'holding', address: 0, type: 'uint16', order: 'ABCD', scale: 1, offset: 0, staleAfter: 30_000, writable: true },
    ]);
  });

  it('loads the complete example of docs/modbus-server.md', () => {
    const doc = readFileSync(path.join(import.meta.dirname, '../../docs/modbus-server.md'), 'utf8');
    const example = /```yaml\n(version: 1[\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const c = load(example!);
    expect(typeof c === 'string' ? c : '').toBe('');
    expect((c as ModbusServerConfig).enabled).toBe(true);
    expect((c as ModbusServerConfig).registers.length).toBeGreaterThanOrEqual(4);
  });

  it('reports bad fields at their path and line', () => {
    const msg = server(`  enabled: true
  host: gateway.local
  allow: ['10.0.0.0/24', '10.0.0.0/33', 'fe80::/64', 'lamp-7']
  registers:
    - { point: pole/temperature, table: holding, address: 30, wordOrder: CDAB }
    - { point: temperature, table: coil, address: 40, type: float }
    - { point: pole/temperature, table: input, address: 0, writable: true }
`) as string;
    const lines = msg.split('\n');
    const has = (line: string) => expect(lines, line).toContain(line);
    has('wayside.yaml:8 modbusServer.host: expected an IP address of this gateway (not a host name), like "127.0.0.1" or "10.0.0.5", got "gateway.local"');
    has('wayside.yaml:9 modbusServer.allow[1]: expected a prefix length 0-32 after "/", got "10.0.0.0/33"');
    has('wayside.yaml:9 modbusServer.allow[3]: expected an IP address or a CIDR block like "10.0.0.0/24", got "lamp-7"');
    has('wayside.yaml:11 modbusServer.registers[0]: unknown field "wordOrder" (did you mean "order"?)');
    has('wayside.yaml:12 modbusServer.registers[1].point: expected "device/point", like "meter-3/voltage_a", got "temperature"');
    has('wayside.yaml:12 modbusServer.registers[1].table: expected one of holding, input, got "coil"');
    expect(msg).toMatch(/wayside\.yaml:12 modbusServer\.registers\[1\]\.type: expected one of bool, int16, .*got "float"/);
    // Checks within one mapping run whatever the other entries hold.
    has('wayside.yaml:13 modbusServer.registers[2].writable: input registers are read-only by protocol: map a writable point to a holding register');
    expect(lines).toHaveLength(8);
  });

  it('reports overlapping registers naming both entries, and types that do not fit', () => {
    const msg = server(`  enabled: true
  registers:
    - { point: pole/temperature, table: holding, address: 0, type: float32 }
    - { point: pole/lamp_level, table: holding, address: 1 }
    - { point: pole/lamp_level, table: holding, address: 2, quality: { address: 2 } }
    - { point: pole/lamp_level, table: input, address: 2, age: { address: 5 } }
    - { point: pole/temperature, table: input, address: 4, type: float32 }
    - { point: pole/temperature, table: input, address: 65534, type: float64 }
    - { point: pole/temperature, table: holding, address: 10, type: string }
    - { point: pole/temperature, table: holding, address: 20, type: bool, scale: 0.1 }
    - { point: pole/temperature, table: holding, address: 30, type: int16, length: 2 }
`) as string;
    const lines = msg.split('\n');
    const has = (line: string) => expect(lines, line).toContain(line);
    has('wayside.yaml:14 modbusServer.registers[5].address: a float64 at 65534 ends at register 65537, past 65535');
    has('wayside.yaml:15 modbusServer.registers[6].length: missing required field (registers of the string)');
    has('wayside.yaml:16 modbusServer.registers[7].scale: not used for type bool');
    has('wayside.yaml:17 modbusServer.registers[8].length: only for type string, got type int16');
    has('wayside.yaml:10 modbusServer.registers[1].address: holding register 1 is already used by registers[0] (pole/temperature value)');
    has('wayside.yaml:11 modbusServer.registers[2].quality.address: holding register 2 is already used by registers[2] (pole/lamp_level value)');
    has('wayside.yaml:13 modbusServer.registers[4].address: input register 5 is already used by registers[3] (pole/lamp_level age)');
    expect(lines).toHaveLength(7);
  });

  it('refuses an enabled server without registers', () => {
    expect(server('  enabled: true\n')).toContain('modbusServer.registers: expected at least one register mapping when enabled');
  });
});

describe('allow-list', () => {
  it('matches addresses and CIDR blocks, IPv4 clients on dual-stack sockets, IPv6', () => {
    const a = createAllowList(['127.0.0.1', '10.0.0.0/24', 'fd00::/8']);
    expect(a.allows('127.0.0.1')).toBe(true);
    expect(a.allows('::ffff:127.0.0.1')).toBe(true);
    expect(a.allows('127.0.0.2')).toBe(false);
    expect(a.allows('10.0.0.255')).toBe(true);
    expect(a.allows('10.0.1.0')).toBe(false);
    expect(a.allows('fd12::7')).toBe(true);
    expect(a.allows('::1')).toBe(false);
    expect(a.allows(undefined)).toBe(false);
  });
});
