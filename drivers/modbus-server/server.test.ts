// The Modbus server end to end on real sockets: the real devices service (sim and test-driver
// devices) on a real bus feeds readings, modbus-serial's client and the test's own MBAP framing
// read them back in every type and word order, with scale, quality and age registers; writes go
// through the devices service's write path (range checks, device failures as exceptions); the
// allow-list and maxClients close connections at once; stop() frees the port. The clock is a
// manual one so ages and staleness move only when a test says.
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import ModbusSerial from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import { DECODE_CASES } from '../../test/support/modbus/cases.ts';
import { freePort } from '../../test/support/modbus/sim.ts';
import { createBus } from '../../runtime/bus.ts';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { silentLog } from '../../runtime/log.ts';
import type { ServiceCtx } from '../../runtime/service.ts';
import { stateDir } from '../../runtime/state.ts';
import { createManualClock, type ManualClock } from '../../test/helpers/clock.ts';
import { testDriver, type TestDeviceHandle } from '../../test/helpers/test-driver.ts';
import { builtinDrivers } from '../index.ts';
import { createDevicesService, type DevicesService } from '../service.ts';
import { modbusServerSection } from './schema.ts';
import { createModbusServerService, type ModbusServerDeps, type ModbusServerService } from './service.ts';

interface Harness {
  ctx: ServiceCtx;
  clock: ManualClock;
  devices: DevicesService;
  handles: Map<string, TestDeviceHandle>;
  server: ModbusServerService;
  /** Every deps.write call the server made, in order. */
  writes: { device: string; point: string; value: unknown }[];
  close(): Promise<void>;
}

function registry(handles = new Map<string, TestDeviceHandle>()) {
  return createDriverRegistry([...builtinDrivers(), testDriver(handles)], { sections: { modbusServer: modbusServerSection } });
}

/** Parses `yaml` (without version/gateway) through the real loader. */
function config(yaml: string, handles = new Map<string, TestDeviceHandle>()) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-mbs-'));
  const text = `version: 1\ngateway: { id: mbs-gw, stateDir: ${dir} }\nclock: { trust: always }\nuplink: { enabled: false }\n${yaml}`;
  const parsed = parseConfig(text, path.join(dir, 'wayside.yaml'), registry(handles));
  // The loader validated the section above; runtime/config/resolve.ts does not (yet) copy the
  // product sections into the resolved config, so take the section's parse from the same text.
  const own = (parsed as unknown as Record<string, unknown>).modbusServer ?? modbusServerSection.parse((parseYaml(text) as Record<string, unknown>).modbusServer ?? {});
  return { config: { ...parsed, modbusServer: own } as typeof parsed, dir };
}

async function start(yaml: string, opts: { deps?: Partial<ModbusServerDeps> } = {}): Promise<Harness> {
  const handles = new Map<string, TestDeviceHandle>();
  const { config: cfg, dir } = config(yaml, handles);
  const log = silentLog();
  const clock = createManualClock({ wall: Date.UTC(2026, 5, 1, 12, 0, 0) });
  const bus = createBus(log);
  let ids = 0;
  const ctx: ServiceCtx = { bus, log, clock, newId: () => `MBS${String(++ids).padStart(23, '0')}`, config: cfg, state: stateDir(path.join(dir, 'state')), health: () => ({}) };
  const devices = createDevicesService(registry(handles));
  await devices.start({ ...ctx, state: stateDir(path.join(dir, 'devices')) });
  const writes: Harness['writes'] = [];
  const server = createModbusServerService({
    write: async (device, point, value) => {
      writes.push({ device, point, value });
      await devices.write(device, point, value);
    },
    points: () => devices.list(),
    ...opts.deps,
  });
  const close = async () => {
    await server.stop();
    await devices.stop();
  };
  try {
    await server.start(ctx);
  } catch (err) {
    await close();
    throw err;
  }
  return { ctx, clock, devices, handles, server, writes, close };
}

/** One request with the test's own MBAP framing; resolves with the response PDU (function code first). */
function rawRequest(port: number, unitId: number, pdu: Buffer, tid = 0x1234): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no response within 5 s'));
    }, 5000);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('connect', () => {
      const head = Buffer.alloc(7);
      head.writeUInt16BE(tid, 0);
      head.writeUInt16BE(0, 2);
      head.writeUInt16BE(pdu.length + 1, 4);
      head[6] = unitId;
      sock.write(Buffer.concat([head, pdu]));
    });
    sock.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 6 && got.length >= 6 + got.readUInt16BE(4)) {
        clearTimeout(timer);
        sock.destroy();
        if (got.readUInt16BE(0) !== tid) return reject(new Error(`transaction id ${got.readUInt16BE(0)}, sent ${tid}`));
        if (got.readUInt16BE(2) !== 0) return reject(new Error('protocol id not 0'));
        if (got[6] !== unitId) return reject(new Error(`unit id ${got[6]}, sent ${unitId}`));
        resolve(got.subarray(7, 6 + got.readUInt16BE(4)));
      }
    });
  });
}

/** fc3/fc4 request PDU. */
function readPdu(fc: 3 | 4, address: number, count: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = fc;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(count, 3);
  return b;
}

// ---- tests

// Node's default import of this CommonJS package is the client class itself; TypeScript
// (NodeNext) types it as the module object, so name the class once here.
type ModbusRTU = InstanceType<typeof ModbusSerial.default>;
const ModbusRTU = ModbusSerial as unknown as new () => ModbusRTU;

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function server(yaml: string, opts: { deps?: Partial<ModbusServerDeps> } = {}): Promise<Harness> {
  const h = await start(yaml, opts);
  cleanup.push(() => h.close());
  return h;
}

async function client(port: number, opts: { localAddress?: string } = {}): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port, ...opts });
  c.setID(1);
  c.setTimeout(3000);
  cleanup.push(() => new Promise<void>((r) => (c.isOpen ? c.close(() => r()) : r())));
  return c;
}

/** The Modbus exception code a client call failed with (undefined: it did not fail with one). */
async function exceptionOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
  throw new Error('expected a Modbus exception, the request succeeded');
}

// The register images of test/support/modbus/cases.ts (hex written by hand), for the types a
// server encodes exactly: uint64 above 2^53 has no exact double, a bool is served as 0/1, and a
// CDAB string there is space-padded where the encoder pads with NUL.
const CASES = DECODE_CASES.filter((c) => c.bit === undefined && c.type !== 'bool' && c.type !== 'uint64' && !(c.type === 'string' && c.order === 'CDAB'));
const CASE_REGS: Record<string, unknown>[] = [];
let nextAddr = 0;
const caseAt = CASES.map((c, i) => {
  const at = nextAddr;
  CASE_REGS.push({ point: `meter-3/c${i}`, table: 'holding', address: at, type: c.type, order: c.order, ...(c.length && { length: c.length }) });
  nextAddr += c.words.length;
  return at;
});

const MAIN = (port: number) => `
devices:
  - { id: meter-3, driver: test }
  - { id: pole, driver: sim, interval: 1h, points: [lamp_level, temperature] }
modbusServer:
  enabled: true
  port: ${port}
  allow: ['127.0.0.1']
  registers: ${JSON.stringify([
    ...CASE_REGS,
    { point: 'meter-3/energy', table: 'holding', address: 1000, type: 'uint32', scale: 0.01 },
    { point: 'meter-3/temp', table: 'holding', address: 1002, type: 'int16', scale: 0.1, offset: -40 },
    { point: 'meter-3/voltage', table: 'holding', address: 1010, type: 'float32', order: 'CDAB', quality: { address: 1012 }, age: { address: 1013 }, staleAfter: '60s' },
    { point: 'meter-3/door', table: 'holding', address: 1020, type: 'bool' },
    { point: 'meter-3/voltage', table: 'input', address: 0, type: 'float32', quality: { address: 2 }, age: { address: 3, unit: 'min' } },
    { point: 'pole/lamp_level', table: 'holding', address: 2000, writable: true },
    { point: 'pole/lamp_level', table: 'holding', address: 2001, type: 'int16', scale: 0.5, writable: true },
    { point: 'pole/lamp_level', table: 'holding', address: 2002, type: 'float32', writable: true },
    { point: 'meter-3/setpoint', table: 'holding', address: 2010, type: 'int16', writable: true },
    { point: 'pole/temperature', table: 'holding', address: 2020, type: 'float32', quality: { address: 2022 } },
  ])}
`;

const words = (b: Buffer) => Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2));

describe('modbus server', () => {
  it('serves every type and word order, scaled values and bools, to modbus-serial and to raw MBAP', async () => {
    const port = await freePort();
    const h = await server(MAIN(port));
    const meter = h.handles.get('meter-3')!;
    CASES.forEach((c, i) => meter.emit(`c${i}`, c.value));
    meter.emit('energy', 1234.56);
    meter.emit('temp', 21.5);
    meter.emit('door', true);
    const c = await client(port);
    const { data } = await c.readHoldingRegisters(0, nextAddr);
    CASES.forEach((k, i) => expect(data.slice(caseAt[i], caseAt[i] + k.words.length), `${k.type} ${k.order}`).toEqual(k.words));
    // The same registers with the test's own framing (one request of every mapped register).
    const raw = await rawRequest(port, 1, readPdu(3, 0, nextAddr));
    expect(raw[0]).toBe(3);
    expect(raw[1]).toBe(nextAddr * 2);
    expect(words(raw.subarray(2))).toEqual(data);
    // energy 1234.56 at scale 0.01 -> raw 123456 = 0x0001 0xe240; temp 21.5 = raw * 0.1 - 40 -> raw 615.
    expect((await c.readHoldingRegisters(1000, 3)).data).toEqual([0x0001, 0xe240, 615]);
    expect((await c.readHoldingRegisters(1020, 1)).data).toEqual([1]);
    meter.emit('temp', -45); // raw -50: int16 holds it
    expect((await c.readHoldingRegisters(1002, 1)).buffer.readInt16BE(0)).toBe(-50);
  });

  it('quality and age registers: no value, good, uncertain, bad, stale, on fc3 and fc4', async () => {
    const port = await freePort();
    const h = await server(MAIN(port));
    const c = await client(port);
    // No value yet: NaN (CDAB: low word first), quality 3, age saturated.
    expect((await c.readHoldingRegisters(1010, 4)).data).toEqual([0x0000, 0x7fc0, 3, 65535]);
    expect((await c.readInputRegisters(0, 4)).data).toEqual([0x7fc0, 0x0000, 3, 65535]);
    h.handles.get('meter-3')!.emit('voltage', 230.5); // 0x43668000
    expect((await c.readHoldingRegisters(1010, 4)).data).toEqual([0x8000, 0x4366, 0, 0]);
    h.clock.advance(7_000);
    expect((await c.readHoldingRegisters(1012, 2)).data).toEqual([0, 7]);
    h.clock.advance(125_000); // 132 s: 2 min on the input mapping (unit min); holding is stale (60 s)
    expect((await c.readInputRegisters(0, 4)).data).toEqual([0x4366, 0x8000, 0, 2]);
    expect((await c.readHoldingRegisters(1012, 2)).data).toEqual([3, 132]);
    // Quality follows the reading's; a reading stamped 5 s ago is 5 s old on arrival.
    const now = h.clock.now();
    h.ctx.bus.emit('reading', { device: 'meter-3', point: 'voltage', value: 231, quality: 'uncertain', ts: now - 5_000 });
    expect((await c.readHoldingRegisters(1010, 4)).data).toEqual([0x0000, 0x4367, 1, 5]);
    h.ctx.bus.emit('reading', { device: 'meter-3', point: 'voltage', value: 229, quality: 'bad', ts: now });
    expect((await c.readHoldingRegisters(1012, 1)).data).toEqual([2]);
    // A value the type cannot hold: quality 2, value registers "no value" (int16 0 here).
    h.handles.get('meter-3')!.emit('temp', 4000); // raw 40400 > int16
    expect((await c.readHoldingRegisters(1002, 1)).data).toEqual([0]);
    const health = h.server.health!().section as { points: Record<string, number>; readings: number };
    expect(health.points.bad).toBe(3); // voltage in both tables (a bad reading) and temp (does not fit)
    expect(health.readings).toBeGreaterThanOrEqual(4);
  });

  it('answers exception 2 for unmapped registers and 1 for coils, counting them by code', async () => {
    const port = await freePort();
    const h = await server(MAIN(port));
    const c = await client(port);
    expect(await exceptionOf(c.readHoldingRegisters(5000, 1))).toBe(2);
    expect(await exceptionOf(c.readHoldingRegisters(1002, 3))).toBe(2); // 1003 is a gap
    expect(await exceptionOf(c.readInputRegisters(4, 1))).toBe(2);
    expect(await exceptionOf(c.readCoils(0, 1))).toBe(1);
    // Raw: fc 0x83, code 2.
    expect([...(await rawRequest(port, 1, readPdu(3, 9999, 2)))]).toEqual([0x83, 2]);
    const s = h.server.health!().section as { exceptions: Record<string, number>; requests: number; responses: number };
    expect(s.exceptions).toEqual({ 1: 1, 2: 4 });
    expect(s.requests).toBe(5);
    expect(s.responses).toBe(5);
    const m = h.server.metrics!().find((x) => x.name === 'modbus_server_exceptions_total')!;
    expect(m.samples).toEqual(expect.arrayContaining([[{ code: '2' }, 4], [{ code: '1' }, 1]]));
  });

  it('writes go to the device through the write path; range, read-only and device failures are exceptions', async () => {
    const port = await freePort();
    const h = await server(MAIN(port));
    const c = await client(port);
    await c.writeRegister(2000, 40);
    expect(h.writes).toEqual([{ device: 'pole', point: 'lamp_level', value: 40 }]);
    // The sim reports its new level at once; the server serves it back.
    expect((await pollUntil(() => c.readHoldingRegisters(2000, 1), (r) => r.data[0] === 40)).data).toEqual([40]);
    const f = Buffer.alloc(4);
    f.writeFloatBE(55.5);
    await c.writeRegisters(2002, words(f));
    expect(h.writes.at(-1)).toEqual({ device: 'pole', point: 'lamp_level', value: 55.5 });
    const n = h.writes.length;
    expect(await exceptionOf(c.writeRegister(2000, 150))).toBe(3); // lamp_level is 0..100
    expect(await exceptionOf(c.writeRegisters(2020, [0x4000, 0]))).toBe(2); // temperature: not writable
    expect(await exceptionOf(c.writeRegister(2022, 0))).toBe(2); // a quality register
    expect(await exceptionOf(c.writeRegister(2002, 0x4000))).toBe(2); // half of a float32
    expect(await exceptionOf(c.writeRegister(7000, 1))).toBe(2); // unmapped
    // One fc16 over two mappings: both checked before either is written, then in address order.
    expect(await exceptionOf(c.writeRegisters(2001, [40, 0x4000]))).toBe(2); // int16 whole, float32 half
    expect(h.writes.length).toBe(n); // none of them reached a device
    await c.writeRegisters(2000, [10, 40]); // lamp 10, then 40 * 0.5 = 20
    expect(h.writes.slice(n)).toEqual([{ device: 'pole', point: 'lamp_level', value: 10 }, { device: 'pole', point: 'lamp_level', value: 20 }]);
    // The test driver has no write: the devices service refuses, the client gets exception 4.
    expect(await exceptionOf(c.writeRegister(2010, 0xfffe))).toBe(4);
    expect(h.writes.at(-1)).toEqual({ device: 'meter-3', point: 'setpoint', value: -2 });
    const s = h.server.health!().section as { writes: Record<string, number> };
    expect(s.writes).toEqual({ ok: 3, refused: 6, failed: 1 });
    // Still serving after all that: the sim reported the 20 it was set to last, in all three mappings.
    const r = await pollUntil(() => c.readHoldingRegisters(2000, 4), (x) => x.data[0] === 20);
    expect(r.data.slice(0, 2)).toEqual([20, 40]);
    expect(r.buffer.readFloatBE(4)).toBe(20);
  });

  it('closes connections from outside the allow-list and beyond maxClients at once; stop() frees the port', async () => {
    const port = await freePort();
    const h = await server(MAIN(port).replace("allow: ['127.0.0.1']", "allow: ['127.0.0.1/32']\n  maxClients: 1"));
    const outsider = await closedWithoutData(port, '127.0.0.2');
    expect(outsider).toBe('closed');
    // modbus-serial's client from 127.0.0.2 gets no answer either.
    const c2 = new ModbusRTU();
    c2.setTimeout(1000);
    const failed = await c2.connectTCP('127.0.0.1', { port, localAddress: '127.0.0.2' }).then(() => c2.readHoldingRegisters(1000, 1)).then(() => false, () => true);
    expect(failed).toBe(true);
    c2.close(() => undefined);
    const c = await client(port);
    expect((await c.readHoldingRegisters(1000, 2)).data).toEqual([0, 0]);
    expect(await closedWithoutData(port)).toBe('closed'); // maxClients: 1, and c holds it
    const s = h.server.health!().section as { clients: number; refusedConnections: Record<string, number>; listening: string };
    expect(s.clients).toBe(1);
    expect(s.listening).toBe(`127.0.0.1:${port}`);
    expect(s.refusedConnections.notAllowed).toBeGreaterThanOrEqual(2);
    expect(s.refusedConnections.tooMany).toBe(1);
    const clientClosed = new Promise<void>((r) => (c as unknown as { _port: { _client: net.Socket } })._port._client.once('close', () => r()));
    await h.server.stop();
    await clientClosed;
    expect(h.server.address()).toBeUndefined();
    await expect(connect(port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('is off by default; a port in use and unknown devices or points refuse the start with the config path', async () => {
    const off = await server('devices: []');
    expect(off.server.health!()).toEqual({ section: { enabled: false }, problems: [] });
    expect(off.server.address()).toBeUndefined();

    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise<void>((r) => busy.close(() => r())));
    const busyPort = (busy.address() as net.AddressInfo).port;
    await expect(start(MAIN(busyPort))).rejects.toThrow(`modbusServer.port: 127.0.0.1:${busyPort} is already in use by another program`);

    const bad = `
devices:
  - { id: pole, driver: sim, interval: 1h, points: [lamp_level, temperature] }
  - { id: spare, driver: sim, enabled: false }
modbusServer:
  enabled: true
  port: ${await freePort()}
  registers:
    - { point: meter-9/voltage, table: holding, address: 0 }
    - { point: pole/pm25, table: holding, address: 1 }
    - { point: pole/temperature, table: holding, address: 2, type: string, length: 2 }
    - { point: pole/temperature, table: holding, address: 4, type: float32, writable: true }
    - { point: spare/pm25, table: input, address: 0 }
`;
    const err = await start(bad).then(() => undefined, (e: Error) => e.message);
    expect(err).toContain('modbusServer.registers[0].point: unknown device "meter-9" (configured: pole, spare)');
    expect(err).toContain('modbusServer.registers[1].point: device "pole" has no point "pm25" (points: lamp_level, temperature)');
    expect(err).toContain('modbusServer.registers[2].type: pole/temperature is a number point: expected a number type');
    expect(err).toContain('modbusServer.registers[3].writable: pole/temperature is not writable on its device');
    expect(err).not.toContain('registers[4]'); // a disabled device is only a warning
  });
});

async function pollUntil<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Connects (from `localAddress`), sends a read and reports whether the server closed the socket without a byte back. */
function closedWithoutData(port: number, localAddress?: string): Promise<'closed' | 'answered'> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(localAddress && { localAddress }) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('socket neither answered nor closed within 5 s'));
    }, 5000);
    let answered = false;
    s.on('connect', () => s.write(Buffer.from([0, 1, 0, 0, 0, 6, 1, 3, 0x03, 0xe8, 0, 1])));
    s.on('data', () => (answered = true));
    s.on('error', () => undefined); // a reset is a close too
    s.on('close', () => {
      clearTimeout(timer);
      resolve(answered ? 'answered' : 'closed');
    });
  });
}
