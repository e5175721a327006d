// The `modbus` family: schema, cross-device checks and points now; the implementation
// (sockets, serial bindings, codecs) on the first configured device.
import type { DeviceBase, PointInfo } from '../../runtime/drivers.ts';
import { defineFamily, type DriverEnv } from '../common/family.ts';
import { checkFamilyPorts, lineText, type PortUse } from '../common/port-checks.ts';
import { mergePoints } from './profiles.ts';
import { modbusSchema, type ModbusDeviceConfig } from './schema.ts';

export const MODBUS_DESCRIPTION = 'Modbus TCP / RTU / RTU over TCP field devices: coalesced polling, shared bus queues, profiles, writes';

type Device = DeviceBase & Omit<ModbusDeviceConfig, 'id' | 'driver'>;

/** How a device uses its port, for the checks across devices (drivers/common/port-checks.ts). */
export function modbusPortUse(index: number, d: Device): PortUse {
  const t = d.transport;
  const base = { index, device: d.id, family: 'modbus', address: String(d.unitId), addressPath: ['unitId'], settingsPath: ['transport'] };
  if (t.type === 'rtu') return { ...base, key: t.port, settings: lineText(t), settingsPath: ['transport', 'baudRate'] };
  return { ...base, key: `tcp:${t.host}:${t.port}`, settings: t.type === 'tcp' ? 'Modbus TCP framing' : 'RTU-over-TCP framing', settingsPath: ['transport', 'type'] };
}

export function modbusPoints(d: Device): PointInfo[] {
  return mergePoints(d.profile, d.points).map((p) => ({
    name: p.name,
    type: p.type === 'bool' ? 'boolean' : p.type === 'string' ? 'string' : 'number',
    writable: p.writable,
    ...(p.unit !== undefined && { unit: p.unit }),
    ...(p.min !== undefined && { min: p.min }),
    ...(p.max !== undefined && { max: p.max }),
    ...(p.description !== undefined && { description: p.description }),
  }));
}

export function modbusFamily(env: DriverEnv) {
  return defineFamily({
    name: 'modbus',
    description: MODBUS_DESCRIPTION,
    schema: modbusSchema,
    checkAll: (devices) => checkFamilyPorts(devices.map(({ index, device }) => modbusPortUse(index, device))),
    points: modbusPoints,
    ports: (d) => (d.transport.type === 'rtu' ? [d.transport.port] : []),
    async load() {
      const [{ createModbusDevice }, { createModbusBuses }, registry] = await Promise.all([import('./device.ts'), import('./ports.ts'), env.buses()]);
      const buses = createModbusBuses(registry);
      return (device, ctx) => createModbusDevice(device as ModbusDeviceConfig, ctx, buses);
    },
  });
}
