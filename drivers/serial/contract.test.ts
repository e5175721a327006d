// The driver contract (test/support/drivers/contract.ts) for streaming serial sensors: a PMS5003
// peer writing frames on a socat pty pair; silence by not writing, unplug by removing the pty.
import { rmSync } from 'node:fs';
import type { Driver } from '../../runtime/types.ts';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { openPeer, pms5003Frame, type Peer } from '../../test/support/serial/frames.ts';
import { builtinDrivers } from '../index.ts';
import { serialSchema } from './schema.ts';

const frame = pms5003Frame({ pm1_0_std: 1, pm2_5_std: 2, pm10_std: 3, pm1_0: 4, pm2_5: 5, pm10: 6, n0_3: 0, n0_5: 0, n1_0: 0, n2_5: 0, n5_0: 0, n10: 0 });

driverContractSuite({
  family: 'serial',
  readOnlyPoint: 'pm2_5',
  can: { silence: true, unplug: true },
  async rig() {
    const pair = await startPtyPair();
    const rec = recordingCtx();
    const def = builtinDrivers().find((d) => d.name === 'serial')!;
    const cfg = serialSchema.parse({ port: pair.a, profile: 'pms5003', silenceTimeout: '200ms', reopen: { min: '300ms', max: '600ms' } });
    const driver = (await def.create({ id: 'dut', driver: 'serial', ...cfg }, rec.ctx)) as Driver;
    let peer: Peer | undefined = await openPeer(pair.b);
    let quiet = false;
    // The sensor streams a frame every 50 ms, as a PMS5003 does in active mode (every ~1 s).
    const timer = setInterval(() => {
      if (!quiet) peer?.write(frame).catch(() => {});
    }, 50);
    return {
      driver,
      readings: rec.readings,
      events: rec.events,
      silence: (on) => (quiet = on),
      async unplug() {
        for (const f of [pair.a, pair.b]) rmSync(f, { force: true });
        const p = peer;
        peer = undefined;
        await p?.close();
        await pair.unplug();
      },
      async replug() {
        await pair.replug();
        peer = await openPeer(pair.b);
      },
      async close() {
        clearInterval(timer);
        await peer?.close();
        await pair.stop();
      },
    };
  },
}, { skip: !socatAvailable() });
