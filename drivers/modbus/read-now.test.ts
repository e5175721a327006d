// "Read now" on a Modbus TCP device (modbus-serial's ServerTCP as the device): outside the poll
// schedule every point is read once through the port's queue, values within their deadband
// are reported anyway, and a device that does not answer makes the read fail with its reason.
import { afterEach, describe, expect, it } from 'vitest';
import { createDevice, modbusDefinition, recordingCtx, until } from '../../test/support/modbus/ctx.ts';
import { createImage, startTcpSim } from '../../test/support/modbus/sim.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('modbus read now', () => {
  it('reads every point once outside the schedule, deadband or not; fails with the reason when the device is gone', async () => {
    const img = createImage({ holding: { 0: [100, 7] }, input: { 10: [5] } });
    const sim = await startTcpSim(() => img);
    let closed = false;
    cleanup.push(() => (closed ? Promise.resolve() : sim.close()));
    const rec = recordingCtx();
    const dev = await createDevice(modbusDefinition(), 'm1', {
      transport: { type: 'tcp', host: '127.0.0.1', port: sim.port }, interval: '1h', timeout: '300ms', retries: 0,
      points: [
        { name: 'level', table: 'holding', address: 0, deadband: 50 },
        { name: 'mode', table: 'holding', address: 1 },
        { name: 'temp', table: 'input', address: 10 },
      ],
    }, rec.ctx);
    cleanup.push(() => dev.stop());
    await expect(dev.readNow!()).rejects.toThrow(/not running/);
    await dev.start();
    await until(() => rec.readings.length === 3, 5000, 'the first poll');
    const polls = dev.stats().polls;
    const before = sim.requests();
    img.holding.set(0, 110); // within the deadband of 50: a scheduled poll would not report it
    img.input.set(10, 6);
    await dev.readNow!();
    expect(rec.values('m1')).toEqual({ level: 110, mode: 7, temp: 6 });
    expect(rec.readings).toHaveLength(6);
    expect(sim.requests() - before).toBe(2); // the coalesced plan: holding 0-1 and input 10
    expect(dev.stats().polls).toBe(polls); // not a scheduled poll
    expect(dev.health().state).toBe('online');

    await sim.close();
    closed = true;
    const err = await dev.readNow!().then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^device "m1" unit 1 fc03 read holding registers 0\.\.1 \(2 registers\): (connection to 127\.0\.0\.1:\d+ lost|.*ECONNREFUSED|.*no reply)/);
    expect(dev.health().errors).toBeGreaterThan(0);
  });
});
