// `dlt645`: DL/T 645-2007 electricity meters on RS-485. Meters configured with the same `port`
// share one bus (and its queue) with each other and with Modbus RTU devices on that port. The
// definition the agent registers is dlt645Family() in definition.ts (built by drivers/index.ts).
export { dlt645Schema, DLT645_DESCRIPTION, type Dlt645Config } from './schema.ts';
export { DLT645_POINTS, type PointDef } from './points.ts';
export { ExchangeError, MeterErrorReply, PortConflictError, ReplyFormatError } from './errors.ts';
