// Modbus TCP end to end against modbus-serial's ServerTCP as the device: every type and order,
// coalescing measured in requests the server saw, exceptions, socket loss and server restarts,
// writes landing in the register image, and port sharing (within an agent, never across two).
import { afterEach, describe, expect, it } from 'vitest';
import { builtinDrivers } from '../index.ts';
import type { ModbusDriver } from './device.ts';
import { DECODE_CASES } from '../../test/support/modbus/cases.ts';
import { createDevice, deviceConfig, modbusDefinition, recordingCtx, sleep, until } from '../../test/support/modbus/ctx.ts';
import { createImage, startTcpSim, type RegisterImage, type TcpSim } from '../../test/support/modbus/sim.ts';
import type { ModbusConfigInput } from './schema.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function sim(img: RegisterImage | ((u: number) => RegisterImage | undefined), port?: number): Promise<TcpSim> {
  const s = await startTcpSim(typeof img === 'function' ? img : () => img, { port });
  cleanup.push(() => s.close());
  return s;
}

async function device(id: string, input: ModbusConfigInput, rec = recordingCtx()): Promise<{ dev: ModbusDriver; rec: ReturnType<typeof recordingCtx> }> {
  const dev = await createDevice(modbusDefinition(), id, input, rec.ctx);
  cleanup.push(() => dev.stop());
  return { dev, rec };
}

const fast = { interval: '100ms', timeout: '300ms', retries: 0 } as const;

describe('modbus tcp', () => {
  it('decodes every type and word/byte order from a known register image', async () => {
    const holding: Record<number, number[]> = {};
    let addr = 0;
    const points = DECODE_CASES.map((c, i) => {
      holding[addr] = c.words;
      const p = { name: `c${i}`, table: 'holding' as const, address: addr, type: c.type, order: c.order, bit: c.bit, length: c.length };
      addr += c.words.length;
      return p;
    });
    const s = await sim(createImage({ holding }));
    const { dev, rec } = await device('types', { transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, ...fast, points });
    await dev.start();
    await until(() => rec.readings.length >= points.length, 3000, 'first poll');
    const got = rec.values('types');
    DECODE_CASES.forEach((c, i) => expect(got[`c${i}`], `${c.type} ${c.order}`).toBe(c.value));
    // 107 registers with no holes: one request per poll.
    expect(dev.plan()).toHaveLength(1);
    // One request per poll; the poll counted last may not have reached the simulator yet.
    const polls = dev.stats().polls;
    expect(s.requests()).toBeGreaterThanOrEqual(polls - 1);
    expect(s.requests()).toBeLessThanOrEqual(polls);
  });

  it('reads a profile in the fewest requests and keeps to a per-device register cap', async () => {
    const input: Record<number, number[]> = { 0: Array(16).fill(0), 32: Array(6).fill(0) };
    const s = await sim(createImage({ input }));
    const { dev } = await device('meter', { transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, ...fast, profile: 'energy-meter' });
    expect(dev.stats()).toMatchObject({ requestsPerCycle: 2, naiveRequestsPerCycle: 11 });
    await dev.start();
    await until(() => dev.stats().polls >= 4);
    await dev.stop();
    await sleep(50);
    // 2 requests per poll (naive: 11); stop() may cut the poll in flight after its first request.
    const polls = dev.stats().polls;
    expect(s.requests()).toBeGreaterThanOrEqual(2 * polls - 1);
    expect(s.requests()).toBeLessThanOrEqual(2 * polls);

    const regs = Array.from({ length: 40 }, (_, i) => ({ name: `r${i}`, table: 'input' as const, address: i }));
    const s2 = await sim(createImage({ input: { 0: Array(40).fill(1) } }));
    const { dev: capped } = await device('capped', { transport: { type: 'tcp', host: '127.0.0.1', port: s2.port }, ...fast, maxRegistersPerRequest: 16, points: regs });
    expect(capped.plan().map((b) => [b.address, b.count])).toEqual([[0, 16], [16, 16], [32, 8]]);
  });

  it('turns exception responses into per-device errors, evented once and counted, while other blocks keep reading', async () => {
    const s = await sim(createImage({ holding: { 0: [7] } }));
    const { dev, rec } = await device('exc', {
      transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, unitId: 9, ...fast, maxGap: 0,
      points: [{ name: 'ok', table: 'holding', address: 0 }, { name: 'missing', table: 'holding', address: 50, type: 'float32' }],
    });
    await dev.start();
    await until(() => dev.stats().polls >= 3);
    const errs = rec.events.filter((e) => e.type === 'device.error');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({
      device: 'exc',
      data: { kind: 'exception', unitId: 9, function: 3, address: 50, count: 2, exception: 2, exceptionName: 'ILLEGAL DATA ADDRESS', points: ['missing'] },
    });
    expect(errs[0].data.message).toBe('device "exc" unit 9 fc03 read holding registers 50..51 (2 registers): exception 2 ILLEGAL DATA ADDRESS');
    const h = dev.health();
    expect(h.errorsByKind.exception).toBeGreaterThanOrEqual(2);
    expect(h.state).toBe('degraded');
    expect(rec.values('exc')).toEqual({ ok: 7 });
  });

  it('reconnects after socket loss and goes offline/online with device.fault events when the server dies and returns', async () => {
    const img = createImage({ input: { 0: [1, 2] } });
    const s = await startTcpSim(() => img);
    const { dev, rec } = await device('flaky', { transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, ...fast, maxBackoff: '1s', points: [{ name: 'a', table: 'input', address: 0 }] });
    await dev.start();
    await until(() => rec.readings.length >= 2);
    s.dropConnections();
    const n = rec.readings.length;
    await until(() => rec.readings.length >= n + 3, 3000, 'readings after socket loss');
    await s.close();
    await until(() => rec.events.some((e) => e.type === 'device.fault' && e.state === 'raise'), 5000, 'fault raise');
    expect(dev.health().state).toBe('offline');
    expect(dev.health().errorsByKind.io).toBeGreaterThanOrEqual(3);
    const s2 = await sim(img, s.port);
    await until(() => rec.events.some((e) => e.type === 'device.fault' && e.state === 'clear'), 5000, 'fault clear');
    expect(dev.health().state).toBe('online');
    expect(s2.requests()).toBeGreaterThan(0);
  });

  it('writes land in the register image exactly as reads decode them; bad writes are refused with the allowed range', async () => {
    const img = createImage({ coils: { 0: [false] }, holding: { 0: Array(14).fill(0), 20: [0, 0, 0, 0], 30: [0x0100] } });
    const s = await sim(img);
    const { dev, rec } = await device('lamp', {
      transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, ...fast, interval: '1s', profile: 'lamp-controller',
      points: [
        { name: 'counter64', table: 'holding', address: 20, type: 'int64', order: 'CDAB', writable: true },
        { name: 'relay_2', table: 'holding', address: 30, type: 'bool', bit: 2, order: 'BADC', writable: true },
      ],
    });
    await dev.start();
    await until(() => dev.stats().polls >= 1 && rec.readings.length > 5);

    await dev.write('dim_level', 40);
    expect(img.holding.get(0)).toBe(40);
    expect(rec.last('lamp', 'dim_level')?.value).toBe(40);

    await dev.write('power_limit', 123.456);
    expect([img.holding.get(8), img.holding.get(9)]).toEqual([0xe979, 0x42f6]);
    expect(rec.last('lamp', 'power_limit')?.value).toBe(123.456);

    await dev.write('lamp_on', true);
    expect(img.coils.get(0)).toBe(true);

    await dev.write('counter64', -1234567890123);
    expect([20, 21, 22, 23].map((a) => img.holding.get(a))).toEqual([0xfb35, 0x8e04, 0xfee0, 0xffff]); // CDAB: words reversed

    await dev.write('relay_2', true); // bit 2 of a byte-swapped register: 0x0100 | 0x0400
    expect(img.holding.get(30)).toBe(0x0500);
    await dev.write('relay_2', false);
    expect(img.holding.get(30)).toBe(0x0100);

    await expect(dev.write('dim_level', 150)).rejects.toThrow('modbus device "lamp" point "dim_level": 150 % is out of range: allowed 0..100 %');
    await expect(dev.write('dim_level', 'x')).rejects.toThrow(/expected a number, got "x"/);
    await expect(dev.write('running_hours', 5)).rejects.toThrow(/"running_hours": read-only point/);
    await expect(dev.write('nope', 5)).rejects.toThrow(/unknown point \(writable points: lamp_on, dim_level, power_limit, counter64, relay_2\)/);
    expect(img.holding.get(0)).toBe(40);

    // The next poll reads back what was written.
    const polls = dev.stats().polls;
    await until(() => dev.stats().polls > polls + 1, 3000);
    expect(rec.last('lamp', 'running_hours')?.value).toBe(0);
    expect(rec.last('lamp', 'counter64')?.value).toBe(-1234567890123);
  });

  it('shares one connection per host:port within an agent, and none across two agents', async () => {
    const img = createImage({ input: { 0: [5] } });
    const s = await sim(img);
    const t = { type: 'tcp' as const, host: '127.0.0.1', port: s.port };
    const pts = [{ name: 'a', table: 'input' as const, address: 0 }];
    const modbusOf = (defs: ReturnType<typeof builtinDrivers>) => defs.find((d) => d.name === 'modbus')!;
    const defA = modbusOf(builtinDrivers());
    const defB = modbusOf(builtinDrivers());
    const recA = recordingCtx();
    const recB = recordingCtx();
    const mk = async (def: typeof defA, id: string, unitId: number, rec: typeof recA) => {
      const d = (await def.create({ ...deviceConfig(id, { transport: t, unitId, ...fast, points: pts }) } as never, rec.ctx)) as ModbusDriver;
      cleanup.push(() => d.stop());
      return d;
    };
    const a1 = await mk(defA, 'a1', 1, recA);
    const a2 = await mk(defA, 'a2', 2, recA);
    const b1 = await mk(defB, 'b1', 1, recB);
    for (const d of [a1, a2, b1]) await d.start();
    await until(() => [a1, a2, b1].every((d) => d.stats().polls >= 2 && d.health().readings >= 2));
    expect(a1.health().port).toBe(`tcp:127.0.0.1:${s.port}`);
    expect(a1.health().stats.requests).toBeGreaterThan(0);
    // Two definitions, two registries: agent B's device has its own connection (2 in total).
    expect(s.connections()).toBe(2);
    expect(recA.readings.every((r) => r.device !== 'b1')).toBe(true);
  });
});

