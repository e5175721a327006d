// The built-in driver families. runtime/ never imports a driver by name; the CLI hands
// this list to the registry.
import type { DriverDefinition } from '../runtime/drivers.ts';
import { simDriver } from './sim/index.ts';

export function builtinDrivers(): DriverDefinition[] {
  return [simDriver];
}
