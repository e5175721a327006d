// The `dlt645` family: schema, cross-device checks and points now; the implementation on the
// first configured meter. Meters share the agent's buses with other families (a Modbus device
// and a meter on one RS-485 port).
import type { DeviceBase, PointInfo } from '../../runtime/drivers.ts';
import { defineFamily, type DriverEnv } from '../common/family.ts';
import { checkFamilyPorts, lineText, type PortUse } from '../common/port-checks.ts';
import { pointByName } from './points.ts';
import { DLT645_DESCRIPTION, dlt645Schema, type Dlt645Config } from './schema.ts';

type Device = DeviceBase & Dlt645Config;

export function dlt645PortUse(index: number, d: Device): PortUse {
  return {
    index, device: d.id, family: 'dlt645', key: d.port, settings: lineText({ ...d, dataBits: 8 }),
    address: d.address, addressPath: ['address'], settingsPath: ['baudRate'],
  };
}

export function dlt645Points(d: Device): PointInfo[] {
  return [...new Set(d.points)].flatMap((n) => {
    const def = pointByName(n);
    return def ? [{ name: def.name, type: 'number' as const, writable: false, description: def.description, ...(def.unit !== undefined && { unit: def.unit }) }] : [];
  });
}

export function dlt645Family(env: DriverEnv) {
  return defineFamily({
    name: 'dlt645',
    description: DLT645_DESCRIPTION,
    schema: dlt645Schema,
    checkAll: (devices) => checkFamilyPorts(devices.map(({ index, device }) => dlt645PortUse(index, device))),
    points: dlt645Points,
    ports: (d) => [d.port],
    async load() {
      const [{ createDlt645Driver }, { createPortRegistry }, buses] = await Promise.all([import('./driver.ts'), import('./shared-port.ts'), env.buses()]);
      const ports = createPortRegistry(buses);
      return (device, ctx) => createDlt645Driver(device, ctx, ports);
    },
  });
}
