// The built-in driver families. runtime/ never imports a driver by name; the CLI hands
// this list to the registry. Each definition carries its config schema and loads its
// implementation (sockets, serial bindings, codecs) only when a device of that family is
// configured: a gateway pays in memory only for the drivers it uses.
import type { DriverDefinition } from '../runtime/drivers.ts';
import { lazyDlt645Definition } from './dlt645/definition.ts';
import { lazyModbusDefinition } from './modbus/definition.ts';
import { lazySerialDefinition } from './serial/definition.ts';
import { simDriver } from './sim/index.ts';

/** Fresh definitions (each with its own port registries): call once per agent. */
export function builtinDrivers(): DriverDefinition[] {
  return [simDriver, lazySerialDefinition(), lazyDlt645Definition(), lazyModbusDefinition()];
}
