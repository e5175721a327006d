// The `serial` definition the agent registers: schema now, implementation on first use.
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import { SERIAL_DESCRIPTION, serialSchema } from './schema.ts';

export function lazySerialDefinition(): DriverDefinition {
  return defineDriver({
    name: 'serial',
    description: SERIAL_DESCRIPTION,
    schema: serialSchema,
    check: (d) =>
      d.profile && d.format
        ? [{ path: ['format'], message: 'give either profile or format, not both' }]
        : !d.profile && !d.format
          ? [{ path: ['profile'], message: 'needs a profile (like pms5003) or a format' }]
          : [],
    create: async (device, ctx) => (await import('./index.ts')).createSerialDriver(device, ctx),
  });
}
