// The Modbus scanner against real devices: modbus-serial's ServerSerial, one per unit id, each
// on its own drop of a simulated multi-drop line (test/support/rs485/multidrop.ts) that passes
// frames only between ports at the same speed, read from the ptys' termios. A ServerTCP stands
// for a Modbus TCP gateway. Ranges and timeouts are small so the file stays short.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ModbusRTU from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { startMultidrop } from '../../test/support/rs485/multidrop.ts';
import { createImage, freePort, readImage, startTcpSim, type RegisterImage } from '../../test/support/modbus/sim.ts';
import { estimateScanMs, modbusSnippet, parseIdList, scanModbus, scanSettings, ScanPortError, type ScanProgress } from './scan.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

/** Counts every write handler call: a scan must never make one. */
const writes = { count: 0 };

function vector(img: RegisterImage) {
  const w = () => {
    writes.count++;
    throw Object.assign(new Error('scan wrote'), { modbusErrorCode: 1 });
  };
  return {
    getCoil: (a: number) => readImage(img.coils, a, 1)[0],
    getDiscreteInput: (a: number) => readImage(img.discrete, a, 1)[0],
    getHoldingRegister: (a: number) => readImage(img.holding, a, 1)[0],
    getInputRegister: (a: number) => readImage(img.input, a, 1)[0],
    getMultipleHoldingRegisters: (a: number, n: number) => readImage(img.holding, a, n),
    getMultipleInputRegisters: (a: number, n: number) => readImage(img.input, a, n),
    setCoil: w,
    setRegister: w,
    setRegisterArray: w,
  };
}

async function serve(path: string, unitID: number, baudRate: number, img: RegisterImage): Promise<void> {
  const server = new ModbusRTU.ServerSerial(vector(img), { path, baudRate, unitID });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', reject);
  });
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
}

const f32 = (x: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return [b.readUInt16BE(0), b.readUInt16BE(2)];
};
/** The shipped profiles' layouts: what a PM sensor, an energy meter and a lamp controller serve. */
export const images = {
  pm: () => createImage({ discrete: { 0: [false] }, input: { 0: [35, 52, 215, 655] } }),
  meter: () => createImage({ input: { 0: [...f32(230.1), ...f32(229.8), ...f32(231), ...f32(1.5), ...f32(1.4), ...f32(1.6), ...f32(0.9), 5001, 987] } }),
  lamp: () => createImage({ coils: { 0: [true] }, holding: { 0: [80, 950, 0, 1200, 2301, 0] } }),
};

describe('unit id lists', () => {
  it('parses ranges and refuses ids outside 1-247', () => {
    expect(parseIdList('1-3,9,20-21')).toEqual([1, 2, 3, 9, 20, 21]);
    expect(() => parseIdList('0-3')).toThrow(/1-247/);
    expect(() => parseIdList('5-2')).toThrow(/increasing/);
    expect(() => parseIdList('a')).toThrow(/expected unit ids/);
  });

  it('sweeps each baud with each parity and estimates the worst case', () => {
    const target = { type: 'rtu' as const, port: '/dev/ttyX', bauds: [9600, 19200], parities: ['none', 'even'] as ('none' | 'even')[] };
    expect(scanSettings(target).map((s) => (s.type === 'rtu' ? `${s.baudRate}/${s.parity}` : ''))).toEqual(['9600/none', '9600/even', '19200/none', '19200/even']);
    // 4 settings x 247 ids at 100 ms: about 100 s, said before it starts.
    expect(estimateScanMs({ target, ids: parseIdList('1-247') })).toBeGreaterThan(4 * 247 * 100);
  });
});

describe.skipIf(!socatAvailable())('modbus scan over RTU', () => {
  it('finds each unit at the speed it talks, guesses its profile, and never writes', { timeout: 25_000 }, async () => {
    const bus = await startMultidrop(3);
    cleanup.push(() => bus.close());
    await serve(bus.drops[0], 2, 19200, images.pm());
    await serve(bus.drops[1], 4, 19200, images.meter());
    await serve(bus.drops[2], 3, 9600, images.lamp());
    writes.count = 0;
    const progress: ScanProgress[] = [];
    const result = await scanModbus({
      target: { type: 'rtu', port: bus.line, bauds: [9600, 19200], parities: ['none'] },
      ids: parseIdList('1-5'),
      timeoutMs: 300,
      onProgress: (p) => progress.push(p),
    });
    const found = result.units.map((u) => ({ id: u.unitId, bauds: u.settings.map((s) => (s.type === 'rtu' ? s.baudRate : 0)), profiles: u.profiles }));
    expect(found).toEqual([
      { id: 2, bauds: [19200], profiles: ['pm-sensor'] },
      { id: 3, bauds: [9600], profiles: ['lamp-controller'] },
      { id: 4, bauds: [19200], profiles: ['energy-meter'] },
    ]);
    // Unit 2 has no holding register 0: its exception reply proved it is there.
    expect(result.units[0].answer).toEqual({ exception: 2 });
    expect(result.units[1].answer).toEqual({ value: 80 });
    expect(result.settings.map((s) => [s.setting, s.found])).toEqual([['9600 8N1', [3]], ['19200 8N1', [2, 4]]]);
    expect(result.probes).toBe(10);
    expect(progress.at(-1)).toMatchObject({ done: 10, total: 10, found: 3 });
    // The devices at 19200 saw the 9600 sweep only as garbage, and the reverse.
    expect(bus.stats.garbled.every((n) => n > 0)).toBe(true);
    expect(writes.count).toBe(0);

    const snippet = modbusSnippet(result);
    expect(snippet).toContain(`transport: { type: rtu, port: ${JSON.stringify(bus.line)}, baudRate: 9600, parity: none, dataBits: 8, stopBits: 1 }`);
    expect(snippet).toContain('unitId: 4\n    profile: energy-meter');
  });

  it('ends in bounded time on a line with nothing on it', { timeout: 20_000 }, async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const opts = { target: { type: 'rtu' as const, port: pair.a, bauds: [9600, 19200, 38400], parities: ['none', 'even'] as ('none' | 'even')[] }, ids: parseIdList('1-8'), timeoutMs: 60 };
    const t0 = Date.now();
    const result = await scanModbus(opts);
    const ms = Date.now() - t0;
    expect(result.units).toEqual([]);
    expect(result.probes).toBe(48);
    expect(result.settings.every((s) => s.timeouts === 8 && s.garbled === 0)).toBe(true);
    // 48 probes of 60 ms plus opening six settings: generous bound, no tight timing.
    expect(ms).toBeLessThan(estimateScanMs(opts) + 10_000);
  });

  it('stops between probes when aborted', async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const ac = new AbortController();
    const result = await scanModbus({
      target: { type: 'rtu', port: pair.a, bauds: [9600], parities: ['none'] }, ids: parseIdList('1-247'), timeoutMs: 50, signal: ac.signal,
      onProgress: (p) => p.done === 3 && ac.abort(),
    });
    expect(result.aborted).toBe(true);
    expect(result.probes).toBe(3);
  });

  it('says which port it cannot open', async () => {
    await expect(scanModbus({ target: { type: 'rtu', port: '/dev/ttyNOPE9', bauds: [9600], parities: ['none'] }, ids: [1], timeoutMs: 50, openTimeoutMs: 300 }))
      .rejects.toThrow(ScanPortError);
  });
});

describe('modbus scan through a TCP gateway', () => {
  it('counts units the gateway reaches, not its "target failed to respond" answers', async () => {
    const meter = images.meter();
    const sim = await startTcpSim((u) => (u === 7 ? meter : undefined));
    cleanup.push(() => sim.close());
    const result = await scanModbus({ target: { type: 'tcp', host: '127.0.0.1', port: sim.port }, ids: parseIdList('1-10'), timeoutMs: 500 });
    expect(result.units.map((u) => [u.unitId, u.profiles])).toEqual([[7, ['energy-meter']]]);
    // Holding 0 is unmapped on the meter: exception 2 is a unit; exception 11 from the others is not.
    expect(result.units[0].answer).toEqual({ exception: 2 });
    expect(modbusSnippet(result)).toContain(`transport: { type: tcp, host: "127.0.0.1", port: ${sim.port} }`);
  });
});

describe.skipIf(!socatAvailable())('modbus scan through a serial device server (RTU over TCP)', () => {
  it('sends RTU frames over the connection and finds the unit behind it', { timeout: 20_000 }, async () => {
    // socat is the device server: a serial line (pty) on one side, where a ServerSerial answers
    // as unit 9, and a TCP port on the other.
    const port = await freePort();
    const tty = path.join(mkdtempSync(path.join(os.tmpdir(), 'wayside-dtu-')), 'tty');
    // socat opens the pty first, then waits for one TCP client (the scan).
    const socat = spawn('socat', [`pty,raw,echo=0,link=${tty}`, `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`], { stdio: 'ignore' });
    cleanup.push(async () => {
      socat.kill('SIGKILL');
    });
    for (let i = 0; i < 250 && !existsSync(tty); i++) await new Promise((r) => setTimeout(r, 20));
    await serve(tty, 9, 9600, images.lamp());
    writes.count = 0;
    const result = await scanModbus({ target: { type: 'rtu-over-tcp', host: '127.0.0.1', port }, ids: parseIdList('8-10'), timeoutMs: 300 });
    expect(result.units.map((u) => [u.unitId, u.profiles])).toEqual([[9, ['lamp-controller']]]);
    expect(result.settings[0].setting).toBe(`rtu-over-tcp 127.0.0.1:${port}`);
    expect(writes.count).toBe(0);
  });
});
