// Test context for Modbus device tests: the recording ctx every family uses, and device configs
// as the config loader hands them to the driver.
import { builtinDrivers } from '../../../drivers/index.ts';
import type { ModbusDriver } from '../../../drivers/modbus/device.ts';
import { modbusSchema, type ModbusConfigInput, type ModbusDeviceConfig } from '../../../drivers/modbus/schema.ts';
import type { DriverDefinition } from '../../../runtime/drivers.ts';
import type { Ctx } from '../../../runtime/types.ts';

export { realClock, recordingCtx, type Recorded } from '../drivers/ctx.ts';

/** A device config as the config loader would hand it to the driver (defaults applied). */
export function deviceConfig(id: string, input: ModbusConfigInput, extra: { offlineAfter?: number } = {}): ModbusDeviceConfig {
  return { id, driver: 'modbus', ...extra, ...modbusSchema.parse(input) };
}

export { sleep, until } from '../../helpers/wait.ts';

/** The `modbus` definition the agent ships, with its own buses (one call = one agent). */
export function modbusDefinition(): DriverDefinition {
  return builtinDrivers({ reopen: { minMs: 200, maxMs: 1000 } }).find((d) => d.name === 'modbus')!;
}

/** A device created through `def`, as the agent creates it. */
export async function createDevice(def: DriverDefinition, id: string, input: ModbusConfigInput, ctx: Ctx): Promise<ModbusDriver> {
  return (await def.create(deviceConfig(id, input) as never, ctx)) as ModbusDriver;
}
