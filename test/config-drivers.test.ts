// Did-you-mean reaches into the real drivers' fields, nested ones included: a Modbus
// `wordOrder` (the name other tools use) points at our `order`.
import { describe, expect, it } from 'vitest';
import { builtinDrivers } from '../drivers/index.ts';
import { ConfigError, parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';

const HEAD = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\ndevices:\n';

function errorsOf(text: string): string[] {
  try {
    parseConfig(text, '/nonexistent/wayside.yaml', createDriverRegistry(builtinDrivers()), {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('misspelt driver fields', () => {
  it.each([
    ['modbus point wordOrder', '  - id: m\n    driver: modbus\n    transport: { type: tcp, host: 10.0.0.5 }\n    points:\n      - { name: v, table: holding, address: 0, type: float32, wordOrder: CDAB }\n',
      'wayside.yaml:9 devices[0].points[0]: unknown field "wordOrder" (did you mean "order"?)'],
    ['modbus device pollInterval', '  - id: m\n    driver: modbus\n    transport: { type: tcp, host: 10.0.0.5 }\n    pollInterval: 5s\n',
      'wayside.yaml:8 devices[0]: unknown field "pollInterval" (did you mean "interval"?)'],
    ['modbus transport baud', '  - id: m\n    driver: modbus\n    transport: { type: rtu, port: /dev/ttyUSB0, baud: 9600 }\n',
      'wayside.yaml:7 devices[0].transport: unknown field "baud" (did you mean "baudRate"?)'],
    ['sim intreval', '  - id: s\n    driver: sim\n    intreval: 1s\n', 'wayside.yaml:7 devices[0]: unknown field "intreval" (did you mean "interval"?)'],
  ])('%s', (_name, devices, line) => {
    expect(errorsOf(HEAD + devices)).toEqual([line]);
  });
});
