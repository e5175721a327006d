// `dlt645`: DL/T 645-2007 electricity meters on RS-485. Device fields, and the driver
// definition. Meters configured with the same `port` share one serial line and one request
// queue; the registry of open ports is created per definition (one per agent).
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import { createDlt645Driver } from './driver.ts';
import { DLT645_DESCRIPTION, dlt645Schema } from './schema.ts';
import { createPortRegistry, type PortRegistryOptions } from './shared-port.ts';

export { dlt645Schema, DLT645_DESCRIPTION, type Dlt645Config } from './schema.ts';

/**
 * A fresh definition with its own port registry. `opts` are for tests (fast serial reopen);
 * the agent uses the defaults.
 */
export function createDlt645Definition(opts: PortRegistryOptions = {}): DriverDefinition {
  const ports = createPortRegistry(opts);
  return defineDriver({
    name: 'dlt645',
    description: DLT645_DESCRIPTION,
    schema: dlt645Schema,
    create: (device, ctx) => createDlt645Driver({ ...device, id: device.id }, ctx, ports),
  });
}

export { DLT645_POINTS, type PointDef } from './points.ts';
export { ExchangeError, MeterErrorReply, PortConflictError, ReplyFormatError } from './errors.ts';
