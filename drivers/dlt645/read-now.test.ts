// "Read now" on DL/T 645 meters (the simulator on a real pty pair): every point once through the
// shared port's queue outside the poll schedule, a refused point named in the failure, and a
// silent meter failing with its timeout.
import { afterEach, describe, expect, it } from 'vitest';
import { A, B, closeLive, startLive, until, type Live } from '../../test/support/dlt645/live.ts';

let live: Live | undefined;
afterEach(async () => {
  await closeLive(live);
  live = undefined;
});

describe('dlt645 read now', () => {
  it('reads every point now; names a refused point; a silent meter fails with its timeout', async () => {
    live = await startLive([
      { address: A, values: { energy_total: 10.5, voltage_a: 220.1 } },
      { address: B, values: { energy_total: 1, voltage_a: 230 }, errors: { voltage_a: 0x02 } },
    ]);
    const l = live;
    const a = await l.meter('meter-a', { address: A, points: ['energy_total', 'voltage_a'], interval: '1h' });
    const b = await l.meter('meter-b', { address: B, points: ['energy_total', 'voltage_a'], interval: '1h' });
    await until(() => !!l.last('meter-a', 'voltage_a') && !!l.last('meter-b', 'energy_total'), 5000, 'the first poll');
    const n = l.readings.filter((r) => r.device === 'meter-a').length;
    l.sim.meter(A).values.voltage_a = 221.7;
    await a.readNow!();
    expect(l.last('meter-a', 'voltage_a')?.value).toBe(221.7);
    expect(l.readings.filter((r) => r.device === 'meter-a').length).toBe(n + 2);

    await expect(b.readNow!()).rejects.toThrow(/point "voltage_a" DI 02 01 01 00: meter replied error/);

    l.sim.meter(A).silent = true;
    await expect(a.readNow!()).rejects.toThrow(/no reply within 150 ms/);
    await a.stop();
    await expect(a.readNow!()).rejects.toThrow(/not running/);
  });
});
