// The driver contract (test/support/drivers/contract.ts) for the sim: no wire, so no silence
// or unplug; start/stop/restart, writes (lamp_level) and refusals.
import type { Driver } from '../../runtime/types.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { builtinDrivers } from '../index.ts';
import { simSchema } from './schema.ts';

driverContractSuite({
  family: 'sim',
  readOnlyPoint: 'pm25',
  writable: { point: 'lamp_level', value: 40 },
  can: {},
  async rig() {
    const rec = recordingCtx();
    const def = builtinDrivers().find((d) => d.name === 'sim')!;
    const driver = (await def.create({ id: 'dut', driver: 'sim', ...simSchema.parse({ interval: '50ms' }) }, rec.ctx)) as Driver;
    return { driver, readings: rec.readings, events: rec.events, close: async () => {} };
  },
});
