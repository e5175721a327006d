// The built-in driver families. runtime/ never imports a driver by name; the composition root
// hands this list to the registry. Each definition carries its config schema, checks and points,
// and loads its implementation only when a device of that family is configured.
import type { DeviceBase, DriverDefinition } from '../runtime/drivers.ts';
import type { BusRegistryOptions } from './common/bus.ts';
import { createDriverEnv } from './common/family.ts';
import { checkPortsAcrossFamilies, type IndexedIssue, type PortUse } from './common/port-checks.ts';
import { dlt645Family, dlt645PortUse } from './dlt645/definition.ts';
import type { Dlt645Config } from './dlt645/schema.ts';
import { loraFamily } from './lora/definition.ts';
import { modemFamily, modemPortUse } from './modem/definition.ts';
import type { ModemConfig } from './modem/schema.ts';
import { modbusFamily, modbusPortUse } from './modbus/definition.ts';
import { serialFamily } from './serial/definition.ts';
import { simFamily } from './sim/definition.ts';

/**
 * Fresh definitions sharing one set of buses (a Modbus device and a DL/T 645 meter on one
 * RS-485 port share its queue): call once per agent. `opts` tunes serial reopen (tests).
 */
export function builtinDrivers(opts: BusRegistryOptions = {}): DriverDefinition[] {
  const env = createDriverEnv(opts);
  return [simFamily(), serialFamily(), dlt645Family(env), modbusFamily(env), loraFamily(), modemFamily()];
}

type AnyDevice = DeviceBase & Record<string, unknown>;

/**
 * Checks across families on shared ports (settings that disagree between a Modbus RTU device
 * and a meter, a streaming sensor sharing its port). The composition root passes it to the
 * registry as a cross check; `devices` are all configured devices with their config index.
 */
export function checkSharedPorts(devices: { index: number; device: AnyDevice }[]): IndexedIssue[] {
  const uses: (PortUse & { exclusive?: boolean })[] = [];
  for (const { index, device } of devices) {
    if (device.driver === 'modbus') uses.push(modbusPortUse(index, device as never));
    else if (device.driver === 'dlt645') uses.push(dlt645PortUse(index, device as unknown as DeviceBase & Dlt645Config));
    else if (device.driver === 'serial' && typeof device.port === 'string') {
      uses.push({ index, device: device.id, family: 'serial', key: device.port, settings: 'streaming', settingsPath: ['port'], addressPath: ['port'], exclusive: true });
    } else if (device.driver === 'modem' && typeof device.port === 'string') uses.push(modemPortUse(index, device as unknown as DeviceBase & ModemConfig));
  }
  return checkPortsAcrossFamilies(uses);
}
