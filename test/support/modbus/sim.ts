// Simulated Modbus devices for tests and benchmarks: a register image per unit, served over
// TCP by modbus-serial's ServerTCP (an independent implementation of the protocol), or over a
// serial pty by a small RTU responder whose replies a test can mutate (noise, CRC errors,
// truncation, silence). Unmapped addresses answer exception 2, as real devices do.
import net from 'node:net';
import ModbusRTU from 'modbus-serial';
import { SerialPort } from 'serialport';
import { crc16, packBits, rtuFrame } from '../../../drivers/modbus/frame.ts';

export interface RegisterImage {
  coils: Map<number, boolean>;
  discrete: Map<number, boolean>;
  holding: Map<number, number>;
  input: Map<number, number>;
}

export function createImage(init: { coils?: Record<number, boolean[]>; discrete?: Record<number, boolean[]>; holding?: Record<number, number[]>; input?: Record<number, number[]> } = {}): RegisterImage {
  const img: RegisterImage = { coils: new Map(), discrete: new Map(), holding: new Map(), input: new Map() };
  for (const t of ['coils', 'discrete', 'holding', 'input'] as const) {
    for (const [addr, vals] of Object.entries(init[t] ?? {}) as [string, (number | boolean)[]][]) {
      vals.forEach((v, i) => (img[t] as Map<number, number | boolean>).set(Number(addr) + i, v));
    }
  }
  return img;
}

/** Registers of `table` from `address`, or throws the ServerTCP-style exception object. */
export function readImage<T extends number | boolean>(m: Map<number, T>, address: number, count: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    const v = m.get(address + i);
    if (v === undefined) throw Object.assign(new Error(`unmapped address ${address + i}`), { modbusErrorCode: 2 });
    out.push(v);
  }
  return out;
}

function writeImage<T extends number | boolean>(m: Map<number, T>, address: number, values: T[]): void {
  for (let i = 0; i < values.length; i++) if (!m.has(address + i)) throw Object.assign(new Error('unmapped'), { modbusErrorCode: 2 });
  values.forEach((v, i) => m.set(address + i, v));
}

export type Images = (unitId: number) => RegisterImage | undefined;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TcpSim {
  port: number;
  /** MBAP requests received. */
  requests(): number;
  /** Client connections open now. */
  connections(): number;
  /** Destroy every client connection (socket loss). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** ServerTCP serving `images` (by unit id; undefined = the unit answers exception 11). */
export async function startTcpSim(images: Images, opts: { port?: number } = {}): Promise<TcpSim> {
  const port = opts.port ?? (await freePort());
  const unit = (u: number): RegisterImage => {
    const img = images(u);
    if (!img) throw Object.assign(new Error(`no unit ${u}`), { modbusErrorCode: 11 });
    return img;
  };
  // Synchronous vector functions: modbus-serial picks the calling convention by arity.
  const vector = {
    getCoil: (addr: number, u: number) => readImage(unit(u).coils, addr, 1)[0],
    getDiscreteInput: (addr: number, u: number) => readImage(unit(u).discrete, addr, 1)[0],
    getHoldingRegister: (addr: number, u: number) => readImage(unit(u).holding, addr, 1)[0],
    getInputRegister: (addr: number, u: number) => readImage(unit(u).input, addr, 1)[0],
    getMultipleHoldingRegisters: (addr: number, len: number, u: number) => readImage(unit(u).holding, addr, len),
    getMultipleInputRegisters: (addr: number, len: number, u: number) => readImage(unit(u).input, addr, len),
    setCoil: (addr: number, v: boolean, u: number) => writeImage(unit(u).coils, addr, [v]),
    setRegister: (addr: number, v: number, u: number) => writeImage(unit(u).holding, addr, [v]),
    setRegisterArray: (addr: number, v: number[], u: number) => writeImage(unit(u).holding, addr, v),
  };
  const server = new ModbusRTU.ServerTCP(vector, { host: '127.0.0.1', port, unitID: 255 });
  let requests = 0;
  const inner = (server as unknown as { _server: net.Server })._server;
  inner.on('connection', (sock: net.Socket) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        requests++;
        buf = buf.subarray(6 + buf.readUInt16BE(4));
      }
    });
  });
  server.on('socketError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', reject);
  });
  return {
    port,
    requests: () => requests,
    connections: () => server.socks.size,
    dropConnections: () => server.socks.forEach((_v, s) => s.destroy()),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** What the RTU responder sends for one request: bytes (possibly several chunks) or silence. */
export type RtuMutator = (response: Buffer, request: Buffer) => Buffer | Buffer[] | null;

export interface RtuSim {
  requests(): number;
  /** Bytes the simulator could not parse as a request. */
  junk(): number;
  /** Replace how responses are sent (undefined: faithfully). */
  mutate(fn: RtuMutator | undefined): void;
  close(): Promise<void>;
}

/** Answer one RTU request frame (CRC already checked) from an image. Exported for the fuzz test. */
export function answerRtu(frame: Buffer, img: RegisterImage): Buffer {
  const unitId = frame[0];
  const fn = frame[1];
  const addr = frame.readUInt16BE(2);
  const qty = frame.readUInt16BE(4);
  try {
    let pdu: Buffer;
    switch (fn) {
      case 1: case 2: {
        const bits = readImage(fn === 1 ? img.coils : img.discrete, addr, qty);
        const data = packBits(bits);
        pdu = Buffer.concat([Buffer.from([fn, data.length]), data]);
        break;
      }
      case 3: case 4: {
        const regs = readImage(fn === 3 ? img.holding : img.input, addr, qty);
        pdu = Buffer.alloc(2 + regs.length * 2);
        pdu[0] = fn;
        pdu[1] = regs.length * 2;
        regs.forEach((v, i) => pdu.writeUInt16BE(v, 2 + i * 2));
        break;
      }
      case 5:
        writeImage(img.coils, addr, [qty === 0xff00]);
        pdu = frame.subarray(1, 6);
        break;
      case 6:
        writeImage(img.holding, addr, [qty]);
        pdu = frame.subarray(1, 6);
        break;
      case 15: {
        const bits: boolean[] = [];
        for (let i = 0; i < qty; i++) bits.push(((frame[7 + (i >> 3)] >> (i & 7)) & 1) === 1);
        writeImage(img.coils, addr, bits);
        pdu = frame.subarray(1, 6);
        break;
      }
      case 16: {
        const regs: number[] = [];
        for (let i = 0; i < qty; i++) regs.push(frame.readUInt16BE(7 + i * 2));
        writeImage(img.holding, addr, regs);
        pdu = frame.subarray(1, 6);
        break;
      }
      default:
        throw Object.assign(new Error('illegal function'), { modbusErrorCode: 1 });
    }
    return rtuFrame(unitId, Buffer.from(pdu));
  } catch (err) {
    const code = (err as { modbusErrorCode?: number }).modbusErrorCode ?? 4;
    return rtuFrame(unitId, Buffer.from([fn | 0x80, code]));
  }
}

/** Length of the request frame starting at buf[0], or 0 if more bytes are needed, -1 if not a request. */
function requestLength(buf: Buffer): number {
  if (buf.length < 2) return 0;
  const fn = buf[1];
  if (fn >= 1 && fn <= 6) return 8;
  if (fn === 15 || fn === 16) return buf.length < 7 ? 0 : 9 + buf[6];
  return -1;
}

/** An RTU responder on a serial port (the `b` side of a socat pair). */
export async function startRtuSim(path: string, baudRate: number, images: Images, opts: { replyDelayMs?: number } = {}): Promise<RtuSim> {
  const port = await new Promise<SerialPort>((resolve, reject) => {
    const p = new SerialPort({ path, baudRate }, (err) => (err ? reject(err) : resolve(p)));
  });
  port.on('error', () => {});
  let buf = Buffer.alloc(0);
  let requests = 0;
  let junk = 0;
  let mutator: RtuMutator | undefined;
  const send = (out: Buffer | Buffer[] | null) => {
    if (!out) return;
    const chunks = Array.isArray(out) ? out : [out];
    chunks.forEach((c, i) => setTimeout(() => port.isOpen && port.write(c), (opts.replyDelayMs ?? 0) + i * 15));
  };
  port.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      const len = requestLength(buf);
      if (len === 0 || buf.length < len) break;
      if (len < 0 || crc16(buf, 0, len - 2) !== buf.readUInt16LE(len - 2)) {
        junk++;
        buf = buf.subarray(1);
        continue;
      }
      const frame = Buffer.from(buf.subarray(0, len));
      buf = buf.subarray(len);
      requests++;
      const img = images(frame[0]);
      if (!img) continue; // no such unit on the bus: silence
      const resp = answerRtu(frame, img);
      send(mutator ? mutator(resp, frame) : resp);
    }
  });
  return {
    requests: () => requests,
    junk: () => junk,
    mutate: (fn) => (mutator = fn),
    close: () => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r())),
  };
}
