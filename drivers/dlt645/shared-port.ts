// DL/T 645 exchanges on a shared RS-485 bus (drivers/common/bus.ts): the bus gives one
// exchange at a time, fair turns and the idle gap between frames, and may carry Modbus RTU
// devices too; this file frames DL/T 645 requests and matches replies to the meter that asked.
// Each request has its own timeout, so a dead meter costs the others one timeout per attempt,
// and the driver's backoff makes those attempts rare.
import { BusCancelled, BusConflictError, type Bus, type BusHandle, type BusRegistry, type Receiver } from '../common/bus.ts';
import type { Log } from '../../runtime/types.ts';
import {
  BROADCAST_ADDRESS, CTRL_FN_MASK, CTRL_REPLY, createFrameParser, encodeFrame, hexBytes,
  type Frame, type FrameError, type ParseEvent,
} from './codec.ts';
import { ExchangeError, PortConflictError, type ExchangeSite } from './errors.ts';

export interface LineSettings {
  path: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
}

export interface PortStats {
  path: string;
  opens: number;
  exchanges: number;
  /** Bytes that belonged to no frame (FE preambles excluded). */
  garbageBytes: number;
  /** Frames with a wrong checksum or end byte. */
  badFrames: number;
  /** Valid replies nobody was waiting for (late answers, another meter). */
  strayFrames: number;
  /** Master frames seen on the line (adapters that echo what they send). */
  echoFrames: number;
}

export interface PortMember {
  device: string;
  /** Meter address, or "auto" (discovery needs the port to itself). */
  address: string;
  settings: LineSettings;
  gapMs: number;
  /** FE wake-up bytes before each request. */
  preamble: number;
  log: Log;
}

export interface ExchangeRequest {
  site: ExchangeSite;
  control: number;
  data?: Uint8Array;
  timeoutMs: number;
  /** Tells this request's reply from a late reply to an earlier one (same meter, other DI). */
  accept?: (reply: Frame) => boolean;
}

export interface PortHandle {
  exchange(req: ExchangeRequest): Promise<Frame>;
  stats(): PortStats;
  /** Leave the port: queued requests of this device are cancelled; the last member closes it. */
  detach(): Promise<void>;
}

export interface PortRegistry {
  /** Throws PortConflictError when the device cannot share the port as configured. */
  attach(member: PortMember): PortHandle;
}

interface Job {
  req: ExchangeRequest;
  device: string;
  preamble: number;
  settled: boolean;
  garbage: number;
  badFrame?: FrameError;
  timer?: NodeJS.Timeout;
  resolve(f: Frame): void;
  reject(e: Error): void;
}

/** The DL/T 645 side of one bus: its meters, its framer, its counters. */
interface Dlt645Line {
  members: Map<string, PortMember>;
  exchange(member: PortMember, req: ExchangeRequest): Promise<Frame>;
  stats(): PortStats;
}

export function createPortRegistry(buses: BusRegistry): PortRegistry {
  return {
    attach(member) {
      const { settings } = member;
      let h: BusHandle;
      try {
        h = buses.acquire(
          { type: 'serial', line: { path: settings.path, baudRate: settings.baudRate, dataBits: 8, parity: settings.parity, stopBits: settings.stopBits } },
          { owner: member.device, family: 'dlt645', gapMs: member.gapMs, log: member.log },
        );
      } catch (err) {
        if (err instanceof BusConflictError) throw new PortConflictError(member.device, settings.path, err.message.replace(/^device "[^"]*" on [^:]*: /, ''));
        throw err;
      }
      const line = h.bus.shared('dlt645', () => createDlt645Line(h.bus, settings.path, member.log));
      try {
        checkConflicts(line.members, member);
      } catch (err) {
        void h.release();
        throw err;
      }
      line.members.set(member.device, member);
      let detached = false;
      return {
        exchange: (req) => (detached ? Promise.reject(new ExchangeError('io', req.site, 'device detached from the port', true)) : line.exchange(member, req)),
        stats: () => line.stats(),
        async detach() {
          if (detached) return;
          detached = true;
          line.members.delete(member.device);
          await h.release(); // fails this device's queued and in-flight requests
        },
      };
    },
  };
}

function checkConflicts(members: Map<string, PortMember>, m: PortMember): void {
  const { path } = m.settings;
  for (const o of members.values()) {
    if (m.address === 'auto' || o.address === 'auto') {
      throw new PortConflictError(m.device, path,
        `address "auto" needs the port to itself (discovery works with one meter on the bus), but device "${o.device}" uses it too; configure every meter's address`);
    }
    if (m.address === o.address) throw new PortConflictError(m.device, path, `address ${m.address} is already polled by device "${o.device}"`);
  }
}

function createDlt645Line(bus: Bus, path: string, firstLog: Log): Dlt645Line {
  const log = firstLog.child({ port: path });
  const members = new Map<string, PortMember>();
  const parser = createFrameParser();
  const st = { exchanges: 0, garbageBytes: 0, badFrames: 0, strayFrames: 0, echoFrames: 0 };
  let current: Job | undefined;
  let baudRate = 2400;

  const settle = (job: Job, result: { frame: Frame } | { error: Error }) => {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if ('frame' in result) job.resolve(result.frame);
    else job.reject(result.error);
  };
  const fail = (job: Job, kind: ExchangeError['kind'], msg: string, cancelled = false) =>
    settle(job, { error: new ExchangeError(kind, job.req.site, msg, cancelled) });

  const mine = (job: Job, address: string | undefined) =>
    address !== undefined && (job.req.site.address === address || job.req.site.address === BROADCAST_ADDRESS);

  function onEvent(ev: ParseEvent): void {
    const job = current && !current.settled ? current : undefined;
    if (ev.type === 'garbage') {
      st.garbageBytes += ev.bytes;
      if (job) job.garbage += ev.bytes;
    } else if (ev.type === 'bad-frame') {
      st.badFrames++;
      // A corrupt frame carrying the polled meter's address is its reply: fail now, not at the timeout.
      if (job && mine(job, ev.error.address)) fail(job, 'crc', `corrupt reply: ${ev.error.message}`);
      else if (job) job.badFrame = ev.error;
    } else if (!(ev.frame.control & CTRL_REPLY)) {
      st.echoFrames++;
    } else if (job && mine(job, ev.frame.address) && (ev.frame.control & CTRL_FN_MASK) === (job.req.control & CTRL_FN_MASK) && (job.req.accept?.(ev.frame) ?? true)) {
      settle(job, { frame: ev.frame });
    } else {
      st.strayFrames++;
      log.debug({ address: ev.frame.address, control: ev.frame.control, data: hexBytes(ev.frame.data) }, 'reply nobody waits for');
    }
  }

  const receiver: Receiver = {
    onData(chunk) {
      for (const ev of parser.push(chunk)) onEvent(ev);
    },
    onDown(err) {
      if (current) fail(current, 'io', err instanceof BusCancelled ? `cancelled: ${err.message}` : `serial port down: ${err.message}`, err instanceof BusCancelled);
    },
    // The framer threw: start clean; the reply counts as a protocol fault of the polled meter.
    onFault(err) {
      parser.reset();
      if (current) fail(current, 'protocol', `reply could not be parsed: ${err.message}`);
    },
  };

  function onTimeout(job: Job): void {
    const t = job.req.timeoutMs;
    const pending = parser.pending();
    if (job.badFrame) fail(job, 'crc', `corrupt reply: ${job.badFrame.message}`);
    else if (pending > 0) fail(job, 'protocol', `truncated reply: ${pending} bytes of an incomplete frame after ${t} ms`);
    else if (job.garbage > 0) fail(job, 'protocol', `no valid reply within ${t} ms, ${job.garbage} garbage bytes received`);
    else fail(job, 'timeout', `no reply within ${t} ms`);
  }

  async function run(job: Job): Promise<void> {
    if (job.settled) return;
    try {
      await bus.pipe.ensureOpen(job.req.timeoutMs);
    } catch (err) {
      return fail(job, 'io', (err as Error).message);
    }
    if (job.settled) return;
    parser.reset(); // leftovers of an earlier exchange must not complete this one
    st.exchanges++;
    const settledP = new Promise<void>((r) => {
      const { resolve, reject } = job;
      job.resolve = (f) => (resolve(f), r());
      job.reject = (e) => (reject(e), r());
    });
    const frame = encodeFrame({ address: job.req.site.address, control: job.req.control, data: job.req.data }, { preamble: job.preamble });
    // The reply timeout starts once the request is on the wire: add its transmit time (11 bits a
    // byte with parity) rather than trusting drain() to return, which a stuck adapter may never do.
    const txMs = Math.ceil((frame.length * 11 * 1000) / baudRate);
    job.timer = setTimeout(() => onTimeout(job), txMs + job.req.timeoutMs);
    bus.pipe.write(frame).catch((err: Error) => fail(job, 'io', `write failed: ${err.message}`));
    await settledP;
  }

  return {
    members,
    exchange(member, req) {
      baudRate = member.settings.baudRate;
      return new Promise<Frame>((resolve, reject) => {
        const job: Job = { req, device: member.device, preamble: member.preamble, settled: false, garbage: 0, resolve, reject };
        bus.run(member.device, receiver, async () => {
          current = job;
          try {
            await run(job);
          } finally {
            current = undefined;
          }
        }).catch((err: Error) => fail(job, 'io', err.message, err instanceof BusCancelled));
      });
    },
    stats: () => ({ path, opens: bus.stats().opens, ...st }),
  };
}
