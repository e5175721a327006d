// `modbus`: Modbus TCP, RTU over a serial port and RTU over TCP, with coalesced reads, shared
// fair per-port queues, device profiles and writes. See docs/drivers/modbus.md.
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import { createModbusDevice } from './device.ts';
import { createModbusBuses } from './ports.ts';
import { MODBUS_DESCRIPTION } from './definition.ts';
import { modbusSchema, type ModbusDeviceConfig } from './schema.ts';

export { createModbusDevice, resolveDevice, type ModbusDriver, type ModbusDeviceStats } from './device.ts';
export { ModbusConfigError, ModbusError, ModbusWriteError } from './errors.ts';
export { createModbusBuses, type ModbusBuses } from './ports.ts';
export { listProfiles, loadProfile, ProfileError } from './profiles.ts';
export { modbusSchema, type ModbusDeviceConfig } from './schema.ts';

/**
 * A fresh definition with its own port registry: call once per agent (builtinDrivers() does),
 * so two agents in one process never share a serial port queue or a TCP connection.
 */
export function createModbusDriver(): DriverDefinition {
  const buses = createModbusBuses();
  return defineDriver({
    name: 'modbus',
    description: MODBUS_DESCRIPTION,
    schema: modbusSchema,
    create: (device, ctx) => createModbusDevice(device as ModbusDeviceConfig, ctx, buses),
  });
}
