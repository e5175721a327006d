// The driver contract (test/support/drivers/contract.ts) for DL/T 645 meters: the meter
// simulator on a socat pty pair; silence by dropping replies, unplug by removing the pty.
import { rmSync } from 'node:fs';
import type { Driver } from '../../runtime/types.ts';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { A, VALUES } from '../../test/support/dlt645/live.ts';
import { createMeterSimulator } from '../../test/support/dlt645/simulator.ts';
import { builtinDrivers } from '../index.ts';
import { dlt645Schema } from './schema.ts';

driverContractSuite({
  family: 'dlt645',
  readOnlyPoint: 'voltage_a',
  can: { silence: true, unplug: true },
  async rig({ slow }) {
    const pair = await startPtyPair();
    const sim = createMeterSimulator({ path: pair.b, meters: [{ address: A, values: VALUES }], preamble: 2 });
    await sim.start();
    const rec = recordingCtx();
    const def = builtinDrivers({ reopen: { minMs: 300, maxMs: 600 } }).find((d) => d.name === 'dlt645')!;
    const cfg = dlt645Schema.parse({ port: pair.a, baudRate: 19200, address: A, interval: '100ms', timeout: slow ? '5s' : '150ms', gap: '2ms', maxBackoff: '1s', points: ['voltage_a', 'frequency'] });
    const driver = (await def.create({ id: 'dut', driver: 'dlt645', ...cfg }, rec.ctx)) as Driver;
    return {
      driver,
      readings: rec.readings,
      events: rec.events,
      silence: (on) => sim.setMangle(on ? () => null : undefined),
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
