// A DL/T 645-2007 meter simulator for tests: opens the device side of a pty pair and hosts one
// or more meters on it. A meter answers reads of its own address with its values (error reply
// "no data requested" for a DI it does not have), answers the broadcast read-address and
// wildcard addresses (AA bytes match any digits), and can be told to go silent. Several meters
// answering one broadcast (or one wildcard) collide, as on a real bus.
// A `mangle` hook lets a test corrupt, cut, delay or drop what goes back on the line.
import { SerialPort } from 'serialport';
import {
  BROADCAST_ADDRESS, CTRL_REPLY, CTRL_ERROR, FN_READ_ADDRESS, FN_READ_DATA, CTRL_FN_MASK,
  addressToBytes, createFrameParser, diFromBytes, encodeFrame, type Frame,
} from '../../../drivers/dlt645/codec.ts';
import { encodeValue, pointByDi } from '../../../drivers/dlt645/points.ts';

export interface SimMeterSpec {
  address: string;
  /** Point name -> value (scaled, as the driver should report it). */
  values?: Record<string, number>;
  /** Point name -> error byte to answer with instead of data. */
  errors?: Record<string, number>;
  /** DI ("02010100") -> raw value bytes (offset removed), for malformed values. */
  raw?: Record<string, Buffer>;
  silent?: boolean;
}

export interface SimMeter extends Required<Omit<SimMeterSpec, 'silent'>> {
  silent: boolean;
  /** Requests addressed to this meter, by its address or a wildcard (broadcasts not included). */
  requests: number;
}

/** What a test does to a reply before it goes on the line: new bytes, null to drop it, or bytes sent late. */
export type Mangle = (reply: Buffer, req: Frame) => Buffer | null | { bytes: Buffer; delayMs: number };

export interface MeterSimulator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Open the device side again (after pair.replug()). */
  reopen(): Promise<void>;
  meter(address: string): SimMeter;
  /** Requests seen, all meters and broadcasts. */
  requests(): number;
  /** Requests that arrived while a reply was still due: the master did not wait its turn. */
  overlaps(): number;
  setMangle(fn: Mangle | undefined): void;
  /** Write raw bytes on the line (noise). */
  inject(bytes: Buffer): Promise<void>;
}

/** True when `pattern` (12 characters, AA = any two digits) names `address`. */
export function addressMatches(pattern: string, address: string): boolean {
  for (let i = 0; i < 12; i += 2) {
    const p = pattern.slice(i, i + 2).toUpperCase();
    if (p !== 'AA' && p !== address.slice(i, i + 2)) return false;
  }
  return true;
}

export function createMeterSimulator(opts: { path: string; meters: SimMeterSpec[]; preamble?: number; latencyMs?: number }): MeterSimulator {
  const meters = new Map<string, SimMeter>(
    opts.meters.map((m) => [m.address, { address: m.address, values: { ...m.values }, errors: { ...m.errors }, raw: { ...m.raw }, silent: !!m.silent, requests: 0 }]),
  );
  const parser = createFrameParser();
  let port: SerialPort | undefined;
  let mangle: Mangle | undefined;
  let total = 0;
  let due = 0;
  let overlaps = 0;

  const send = (bytes: Buffer | null) => {
    if (bytes && port?.isOpen) port.write(bytes);
  };

  function reply(m: SimMeter, req: Frame): Buffer {
    const fn = req.control & CTRL_FN_MASK;
    const pre = { preamble: opts.preamble ?? 0 };
    if (fn === FN_READ_ADDRESS) {
      return encodeFrame({ address: m.address, control: CTRL_REPLY | FN_READ_ADDRESS, data: addressToBytes(m.address) }, pre);
    }
    if (fn !== FN_READ_DATA || req.data.length !== 4) {
      return encodeFrame({ address: m.address, control: CTRL_REPLY | CTRL_ERROR | fn, data: Buffer.from([0x01]) }, pre);
    }
    const di = diFromBytes(req.data);
    const def = pointByDi(di);
    const err = def && m.errors[def.name];
    const rawValue = m.raw[di];
    const value = def && m.values[def.name];
    if (err === undefined && (rawValue || (def && value !== undefined))) {
      const data = Buffer.concat([req.data, rawValue ?? encodeValue(def!, value!)]);
      return encodeFrame({ address: m.address, control: CTRL_REPLY | FN_READ_DATA, data }, pre);
    }
    return encodeFrame({ address: m.address, control: CTRL_REPLY | CTRL_ERROR | FN_READ_DATA, data: Buffer.from([err ?? 0x02]) }, pre);
  }

  function onRequest(req: Frame): void {
    if (req.control & CTRL_REPLY) return; // another meter's reply
    total++;
    if (due > 0) overlaps++;
    let answers: Buffer[];
    if (req.address === BROADCAST_ADDRESS) {
      answers = [...meters.values()].filter((m) => !m.silent).map((m) => reply(m, req));
    } else {
      // Wildcard addressing (DL/T 645-2007): an AA byte matches any digits at that place.
      const hit = [...meters.values()].filter((m) => addressMatches(req.address, m.address));
      if (!hit.length) return;
      for (const m of hit) m.requests++;
      answers = hit.filter((m) => !m.silent).map((m) => reply(m, req));
    }
    if (!answers.length) return;
    // Meters talking at once: the line carries a mix of both (OR of the bytes), not two frames.
    let out = answers[0];
    for (const a of answers.slice(1)) {
      const mix = Buffer.alloc(Math.max(out.length, a.length));
      for (let i = 0; i < mix.length; i++) mix[i] = (out[i] ?? 0) | (a[i] ?? 0);
      out = mix;
    }
    const m = mangle ? mangle(out, req) : out;
    const late = m && !Buffer.isBuffer(m) ? m : undefined;
    due++;
    setTimeout(() => {
      due--;
      send(late ? late.bytes : (m as Buffer | null));
    }, (opts.latencyMs ?? 2) + (late?.delayMs ?? 0));
  }

  const open = () =>
    new Promise<void>((resolve, reject) => {
      // No exclusive lock: on a busy test machine another process's serial line may briefly hold
      // this pty number after reopening a stale link (see test/helpers/socat.ts); do not fail on it.
      const p = new SerialPort({ path: opts.path, baudRate: 2400, parity: 'even', lock: false }, (err) => (err ? reject(err) : resolve()));
      p.on('data', (chunk: Buffer) => {
        for (const ev of parser.push(chunk)) if (ev.type === 'frame') onRequest(ev.frame);
      });
      p.on('error', () => {}); // the pty vanishing on unplug is expected
      port = p;
    });
  const close = async () => {
    const p = port;
    port = undefined;
    parser.reset();
    if (p?.isOpen) await new Promise<void>((r) => p.close(() => r()));
  };

  return {
    start: open,
    stop: close,
    async reopen() {
      await close();
      await open();
    },
    meter(address) {
      const m = meters.get(address);
      if (!m) throw new Error(`simulator has no meter ${address}`);
      return m;
    },
    requests: () => total,
    overlaps: () => overlaps,
    setMangle(fn) {
      mangle = fn;
    },
    inject: (bytes) =>
      new Promise<void>((resolve, reject) => {
        if (!port?.isOpen) return reject(new Error('simulator port is not open'));
        port.write(bytes, (err) => (err ? reject(err) : resolve()));
      }),
  };
}

