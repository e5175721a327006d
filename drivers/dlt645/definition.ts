// The `dlt645` definition the agent registers: schema now, implementation on first use.
// One port registry per definition (per agent).
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import { DLT645_DESCRIPTION, dlt645Schema } from './schema.ts';
import type { PortRegistry } from './shared-port.ts';

export function lazyDlt645Definition(): DriverDefinition {
  let ports: Promise<PortRegistry> | undefined;
  return defineDriver({
    name: 'dlt645',
    description: DLT645_DESCRIPTION,
    schema: dlt645Schema,
    create: async (device, ctx) => {
      ports ??= import('./shared-port.ts').then((m) => m.createPortRegistry());
      const [{ createDlt645Driver }, p] = await Promise.all([import('./driver.ts'), ports]);
      return createDlt645Driver({ ...device, id: device.id }, ctx, p);
    },
  });
}
