// `modbus`: Modbus TCP, RTU over a serial port and RTU over TCP, with coalesced reads, shared
// fair bus queues, device profiles and writes. See docs/drivers/modbus.md. The definition the
// agent registers is modbusFamily() in definition.ts (built by drivers/index.ts).
export { createModbusDevice, resolveDevice, type ModbusDriver, type ModbusDeviceStats } from './device.ts';
export { ModbusConfigError, ModbusError, ModbusWriteError } from './errors.ts';
export { createModbusBuses, type ModbusBuses } from './ports.ts';
export { listProfiles, loadProfile, ProfileError } from './profiles.ts';
export { modbusSchema, type ModbusDeviceConfig } from './schema.ts';
