// The `serial` definition the agent registers: schema now, implementation on first use.
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import { SERIAL_DESCRIPTION, serialSchema } from './schema.ts';

export function lazySerialDefinition(): DriverDefinition {
  return defineDriver({
    name: 'serial',
    description: SERIAL_DESCRIPTION,
    schema: serialSchema,
    create: async (device, ctx) => (await import('./index.ts')).createSerialDriver(device, ctx),
  });
}
