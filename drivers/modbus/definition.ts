// The `modbus` definition the agent registers: schema now, implementation (sockets, serial
// bindings, codecs) on the first configured device. One port registry per definition.
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import type { ModbusBuses } from './ports.ts';
import { modbusSchema, type ModbusDeviceConfig } from './schema.ts';

export const MODBUS_DESCRIPTION = 'Modbus TCP / RTU / RTU over TCP field devices: coalesced polling, shared bus queues, profiles, writes';

export function lazyModbusDefinition(): DriverDefinition {
  let buses: Promise<ModbusBuses> | undefined;
  return defineDriver({
    name: 'modbus',
    description: MODBUS_DESCRIPTION,
    schema: modbusSchema,
    create: async (device, ctx) => {
      buses ??= import('./ports.ts').then((m) => m.createModbusBuses());
      const [{ createModbusDevice }, b] = await Promise.all([import('./device.ts'), buses]);
      return createModbusDevice(device as ModbusDeviceConfig, ctx, b);
    },
  });
}
