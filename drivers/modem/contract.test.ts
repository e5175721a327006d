// The driver contract (test/support/drivers/contract.ts) for cellular modems: the AT modem
// simulator (EC25) on a socat pty pair; silence by a mute simulator, unplug by removing the pty.
import { rmSync } from 'node:fs';
import type { Driver } from '../../runtime/types.ts';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { createModemSimulator } from '../../test/support/modem/simulator.ts';
import { modemFamily } from './definition.ts';
import { modemSchema } from './schema.ts';

driverContractSuite({
  family: 'modem',
  readOnlyPoint: 'rssi_dbm',
  can: { silence: true, unplug: true },
  async rig({ slow }) {
    const pair = await startPtyPair();
    const sim = createModemSimulator({ path: pair.b, model: 'EC25' });
    await sim.start();
    const rec = recordingCtx();
    const cfg = modemSchema.parse({ port: pair.a, interval: '1s', timeout: slow ? '5s' : '200ms', maxBackoff: '1s' });
    const driver = (await modemFamily().create({ id: 'dut', driver: 'modem', ...cfg }, rec.ctx)) as Driver;
    return {
      driver,
      readings: rec.readings,
      events: rec.events,
      silence: (on) => void (sim.silent = on),
      async unplug() {
        // Links first: a reopen through a stale link could land on another test's pty.
        for (const f of [pair.a, pair.b]) rmSync(f, { force: true });
        await pair.unplug();
      },
      async replug() {
        await pair.replug();
        await sim.reopen();
      },
      async close() {
        await sim.stop();
        await pair.stop();
      },
    };
  },
}, { skip: !socatAvailable() });
