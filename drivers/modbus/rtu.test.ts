// Modbus RTU over socat pty pairs: modbus-serial's ServerSerial as the device, then our own
// RTU responder for what a real bus does to frames: unplugging the adapter, a dead device
// sharing the bus with a healthy one, and a seeded fuzz of garbage, truncated, corrupted and
// missing replies. Nothing may crash; every failure is counted by kind.
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { socatAvailable, startPtyPair, type PtyPair } from '../../test/helpers/socat.ts';
import type { ModbusDriver } from './device.ts';
import { rtuFrame } from './frame.ts';
import { rtuFrameDelayMs } from './ports.ts';
import type { ModbusConfigInput } from './schema.ts';
import { createDevice, modbusDefinition, recordingCtx, sleep, until } from '../../test/support/modbus/ctx.ts';
import { createImage, startRtuSim, type RegisterImage } from '../../test/support/modbus/sim.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

async function pty(): Promise<PtyPair> {
  const p = await startPtyPair();
  cleanup.push(() => p.stop());
  return p;
}

async function device(id: string, input: ModbusConfigInput, rec = recordingCtx(), def = modbusDefinition()): Promise<ModbusDriver> {
  const dev = await createDevice(def, id, input, rec.ctx);
  cleanup.push(() => dev.stop());
  return dev;
}

const sensorImage = (): RegisterImage => createImage({ discrete: { 0: [false] }, input: { 0: [35, 52, 215, 655] } });

describe.skipIf(!socatAvailable())('modbus rtu', () => {
  it('computes the inter-frame delay from the line settings', () => {
    expect(rtuFrameDelayMs({ baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 })).toBeCloseTo(3.646, 3);
    expect(rtuFrameDelayMs({ baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 })).toBeCloseTo(4.010, 3);
    expect(rtuFrameDelayMs({ baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 })).toBe(1.75);
  });

  it('reads a device served by modbus-serial ServerSerial', async () => {
    const pair = await pty();
    const img = sensorImage();
    const server = new ModbusRTU.ServerSerial(
      {
        getDiscreteInput: (a: number) => img.discrete.get(a) ?? false,
        getInputRegister: (a: number) => img.input.get(a) ?? 0,
        getMultipleInputRegisters: (a: number, n: number) => Array.from({ length: n }, (_, i) => img.input.get(a + i) ?? 0),
      },
      { path: pair.b, baudRate: 38400, unitID: 5 },
    );
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const rec = recordingCtx();
    const dev = await device('pm', { transport: { type: 'rtu', port: pair.a, baudRate: 38400 }, unitId: 5, interval: '300ms', timeout: '500ms', profile: 'pm-sensor' }, rec);
    await dev.start();
    await until(() => rec.readings.length >= 5, 5000, 'first poll');
    expect(rec.values('pm')).toEqual({ pm2_5: 35, pm10: 52, temperature: 21.5, humidity: 65.5, sensor_fault: false });
  });

  it('goes offline when the adapter is unplugged and recovers without a restart', async () => {
    const pair = await pty();
    const img = sensorImage();
    let sim = await startRtuSim(pair.b, 19200, (u) => (u === 1 ? img : undefined));
    cleanup.push(() => sim.close());
    const rec = recordingCtx();
    const dev = await device('pm', { transport: { type: 'rtu', port: pair.a, baudRate: 19200 }, interval: '100ms', timeout: '200ms', maxBackoff: '1s', profile: 'pm-sensor' }, rec);
    await dev.start();
    await until(() => rec.readings.length >= 5, 5000, 'first poll');

    await pair.unplug();
    await until(() => rec.events.some((e) => e.type === 'device.fault' && e.state === 'raise'), 5000, 'fault raise');
    expect(dev.health().state).toBe('offline');
    expect(dev.health().errorsByKind.io).toBeGreaterThan(0);

    await pair.replug();
    sim = await startRtuSim(pair.b, 19200, (u) => (u === 1 ? img : undefined));
    img.input.set(0, 99);
    await until(() => rec.events.some((e) => e.type === 'device.fault' && e.state === 'clear'), 10_000, 'fault clear');
    await until(() => rec.last('pm', 'pm2_5')?.value === 99, 3000, 'fresh reading');
    expect(dev.health().state).toBe('online');
  });

  it('keeps polling a healthy device at its interval while a dead one times out on the same bus', async () => {
    const pair = await pty();
    const sim = await startRtuSim(pair.b, 38400, (u) => (u === 1 ? sensorImage() : undefined));
    cleanup.push(() => sim.close());
    const def = modbusDefinition(); // one agent: both devices on one bus
    const rec = recordingCtx();
    const t = { type: 'rtu' as const, port: pair.a, baudRate: 38400 };
    const healthy = await device('healthy', { transport: t, unitId: 1, interval: '200ms', timeout: '150ms', profile: 'pm-sensor' }, rec, def);
    // Four blocks, 150 ms timeout, one retry each: unfair queuing would cost 1.2 s per dead poll.
    const dead = await device('dead', {
      transport: t, unitId: 2, interval: '200ms', timeout: '150ms', retries: 1, maxGap: 0,
      points: [0, 10, 20, 30].map((a) => ({ name: `r${a}`, table: 'holding' as const, address: a })),
    }, rec, def);
    await healthy.start();
    await dead.start();
    expect([healthy.health().port, dead.health().port]).toEqual([pair.a, pair.a]);
    await sleep(3000);
    const hs = healthy.stats();
    // 3 s at 200 ms is 15 slots; allow a little for startup.
    expect(hs.polls).toBeGreaterThanOrEqual(13);
    expect(hs.overruns).toBeLessThanOrEqual(1);
    expect(healthy.health().state).toBe('online');
    expect(dead.health().state).toBe('offline');
    expect(dead.health().errorsByKind.timeout).toBeGreaterThanOrEqual(3);
    // Backoff: the dead device polled far less often than its interval asks.
    expect(dead.stats().polls).toBeLessThan(hs.polls / 2);
    // A timeout stops the dead device's poll: it never walks all four blocks into the bus.
    expect(rec.events.filter((e) => e.type === 'device.error' && e.device === 'dead')).toHaveLength(1);
  });

  it('survives a seeded fuzz of garbage, truncated, corrupted and missing replies', async () => {
    const pair = await pty();
    const img = createImage({ holding: { 0: [0x4366, 0x199a, 1234, 0xfff6] }, coils: { 0: [true, false, true] } });
    const sim = await startRtuSim(pair.b, 38400, (u) => (u === 3 ? img : undefined));
    cleanup.push(() => sim.close());
    let seed = 0x5eed;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const used = new Map<string, number>();
    sim.mutate((resp, req) => {
      const kinds = ['ok', 'garbage', 'truncate', 'flip', 'badcrc', 'silence', 'prefix', 'suffix', 'exception', 'chunks', 'wrongunit'] as const;
      const k = kinds[Math.floor(rand() * kinds.length)];
      used.set(k, (used.get(k) ?? 0) + 1);
      switch (k) {
        case 'ok': return resp;
        case 'garbage': return bytes(1 + Math.floor(rand() * 20));
        case 'truncate': return resp.subarray(0, 1 + Math.floor(rand() * (resp.length - 1)));
        case 'flip': { const b = Buffer.from(resp); b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8); return b; }
        case 'badcrc': { const b = Buffer.from(resp); b[b.length - 1] ^= 0xff; return b; }
        case 'silence': return null;
        case 'prefix': return Buffer.concat([bytes(1 + Math.floor(rand() * 6)), resp]);
        case 'suffix': return Buffer.concat([resp, bytes(1 + Math.floor(rand() * 6))]);
        case 'exception': return rtuFrame(req[0], Buffer.from([req[1] | 0x80, 1 + Math.floor(rand() * 11)]));
        case 'chunks': return [resp.subarray(0, 3), resp.subarray(3)];
        case 'wrongunit': return rtuFrame(req[0] + 1, resp.subarray(1, resp.length - 2));
      }
    });
    const rec = recordingCtx();
    const dev = await device('fuzz', {
      transport: { type: 'rtu', port: pair.a, baudRate: 38400 }, unitId: 3, interval: '20ms', timeout: '60ms', retries: 0, maxBackoff: '1s', offlineFailures: 1000,
      points: [
        { name: 'f', table: 'holding', address: 0, type: 'float32' },
        { name: 'u', table: 'holding', address: 2 },
        { name: 'i', table: 'holding', address: 3, type: 'int16' },
        { name: 'c0', table: 'coil', address: 0 }, { name: 'c2', table: 'coil', address: 2 },
      ],
    }, rec);
    await dev.start();
    await until(() => sim.requests() >= 250, 20_000, '250 fuzzed exchanges');
    sim.mutate(undefined);
    const before = rec.readings.length;
    await until(() => rec.readings.length >= before + 10, 5000, 'clean readings after the fuzz');
    await dev.stop();

    const expected: Record<string, unknown> = { f: 230.1, u: 1234, i: -10, c0: true, c2: true };
    // A corrupted frame never becomes a wrong reading.
    for (const r of rec.readings) expect(r.value, `${r.point}`).toBe(expected[r.point]);
    const h = dev.health();
    expect(h.errorsByKind.timeout).toBeGreaterThan(0);
    expect(h.errorsByKind.crc).toBeGreaterThan(0);
    expect(h.errorsByKind.exception).toBeGreaterThan(0);
    expect(h.errorsByKind.protocol).toBeGreaterThan(0);
    expect(h.errors).toBe(Object.values(h.errorsByKind).reduce((a, b) => a + (b ?? 0), 0));
    expect(rec.events.some((e) => e.type === 'device.error' && e.data.kind === 'crc')).toBe(true);
    expect(used.size).toBe(11);
  });
});
