// Test context for Modbus device tests: the recording ctx every family uses, and device configs
// as the config loader hands them to the driver.
import { modbusSchema, type ModbusConfigInput, type ModbusDeviceConfig } from '../../../drivers/modbus/schema.ts';

export { realClock, recordingCtx, type Recorded } from '../drivers/ctx.ts';

/** A device config as the config loader would hand it to the driver (defaults applied). */
export function deviceConfig(id: string, input: ModbusConfigInput, extra: { offlineAfter?: number } = {}): ModbusDeviceConfig {
  return { id, driver: 'modbus', ...extra, ...modbusSchema.parse(input) };
}

export { sleep, until } from '../../helpers/wait.ts';
