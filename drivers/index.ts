// The built-in driver families. runtime/ never imports a driver by name; the CLI hands
// this list to the registry.
import type { DriverDefinition } from '../runtime/drivers.ts';
import { createDlt645Definition } from './dlt645/index.ts';
import { createModbusDriver } from './modbus/index.ts';
import { serialDriver } from './serial/index.ts';
import { simDriver } from './sim/index.ts';

export function builtinDrivers(): DriverDefinition[] {
  return [simDriver, serialDriver, createDlt645Definition(), createModbusDriver()];
}
