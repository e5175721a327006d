// One RS-485 port shared by every meter wired to it: one serial line, one queue, one exchange
// at a time with an idle gap between frames (half duplex: two masters talking at once garble
// both). Each request has its own timeout, so a dead meter costs the others one timeout per
// attempt, and the driver's backoff makes those attempts rare.
//
// The registry of ports lives in a closure the driver definition creates (one per agent), not
// in module state: two agents in one process never share a port object.
import { createSerialLine } from '../common/serial-line.ts';
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

export interface PortHandle {
  exchange(req: ExchangeRequest): Promise<Frame>;
  stats(): PortStats;
  /** Leave the port: queued requests of this device are cancelled; the last member closes it. */
  detach(): Promise<void>;
}

export interface PortRegistry {
  /** Throws PortConflictError when the device cannot share the port as configured. */
  attach(member: PortMember): PortHandle;
  /** Ports currently open or opening. */
  size(): number;
}

export interface PortRegistryOptions {
  /** Reopen backoff of the serial line after an unplug (default 500 ms .. 30 s). */
  reopen?: { minMs: number; maxMs: number };
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

interface SharedPort {
  members: Map<string, PortMember>;
  exchange(member: PortMember, req: ExchangeRequest): Promise<Frame>;
  cancel(device: string): void;
  stats(): PortStats;
  close(): Promise<void>;
}

export function createPortRegistry(opts: PortRegistryOptions = {}): PortRegistry {
  const ports = new Map<string, SharedPort>();
  return {
    attach(member) {
      const path = member.settings.path;
      let port = ports.get(path);
      if (port) checkConflicts(port.members, member);
      else ports.set(path, (port = openSharedPort(member, opts)));
      port.members.set(member.device, member);
      const p = port;
      let detached = false;
      return {
        exchange: (req) => (detached ? Promise.reject(new ExchangeError('io', req.site, 'device detached from the port', true)) : p.exchange(member, req)),
        stats: () => p.stats(),
        async detach() {
          if (detached) return;
          detached = true;
          p.members.delete(member.device);
          p.cancel(member.device);
          if (p.members.size === 0) {
            if (ports.get(path) === p) ports.delete(path);
            await p.close();
          }
        },
      };
    },
    size: () => ports.size,
  };
}

function checkConflicts(members: Map<string, PortMember>, m: PortMember): void {
  const { path } = m.settings;
  for (const o of members.values()) {
    const a = o.settings;
    const b = m.settings;
    if (a.baudRate !== b.baudRate || a.parity !== b.parity || a.stopBits !== b.stopBits) {
      throw new PortConflictError(m.device, path,
        `line settings ${b.baudRate} ${b.parity} ${b.stopBits} differ from device "${o.device}" (${a.baudRate} ${a.parity} ${a.stopBits}); meters on one port share one line`);
    }
    if (m.address === 'auto' || o.address === 'auto') {
      throw new PortConflictError(m.device, path,
        `address "auto" needs the port to itself (discovery works with one meter on the bus), but device "${o.device}" uses it too; configure every meter's address`);
    }
    if (m.address === o.address) throw new PortConflictError(m.device, path, `address ${m.address} is already polled by device "${o.device}"`);
  }
}

function openSharedPort(first: PortMember, opts: PortRegistryOptions): SharedPort {
  const settings = first.settings;
  const log = first.log.child({ port: settings.path });
  const members = new Map<string, PortMember>();
  const queue: Job[] = [];
  const parser = createFrameParser();
  const openWaiters = new Set<() => void>();
  const st = { exchanges: 0, garbageBytes: 0, badFrames: 0, strayFrames: 0, echoFrames: 0 };
  let current: Job | undefined;
  let lastEnd = 0;

  const settle = (job: Job, result: { frame: Frame } | { error: Error }) => {
    if (job.settled) return;
    job.settled = true;
    clearTimeout(job.timer);
    if ('frame' in result) job.resolve(result.frame);
    else job.reject(result.error);
  };
  const fail = (job: Job, kind: ExchangeError['kind'], msg: string, cancelled = false) =>
    settle(job, { error: new ExchangeError(kind, job.req.site, msg, cancelled) });

  const line = createSerialLine(
    { path: settings.path, baudRate: settings.baudRate, parity: settings.parity, stopBits: settings.stopBits, dataBits: 8, reopen: opts.reopen },
    {
      log,
      onData: (chunk) => {
        for (const ev of parser.push(chunk)) onEvent(ev);
      },
      onOpen: () => {
        for (const w of openWaiters) w();
        openWaiters.clear();
      },
      onDown: (err) => {
        if (current) fail(current, 'io', `serial port down: ${err.message}`);
      },
    },
  );
  line.start();

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

  function onTimeout(job: Job): void {
    const t = job.req.timeoutMs;
    const pending = parser.pending();
    if (job.badFrame) fail(job, 'crc', `corrupt reply: ${job.badFrame.message}`);
    else if (pending > 0) fail(job, 'protocol', `truncated reply: ${pending} bytes of an incomplete frame after ${t} ms`);
    else if (job.garbage > 0) fail(job, 'protocol', `no valid reply within ${t} ms, ${job.garbage} garbage bytes received`);
    else fail(job, 'timeout', `no reply within ${t} ms`);
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const waitOpen = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        openWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      openWaiters.add(done);
    });

  async function run(job: Job): Promise<void> {
    const gap = Math.max(0, ...[...members.values()].map((m) => m.gapMs));
    const wait = lastEnd + gap - performance.now();
    if (wait > 0) await sleep(wait);
    if (job.settled) return;
    // Right after start or a replug the line may still be opening: give it the request's timeout.
    if (!line.isOpen()) await waitOpen(job.req.timeoutMs);
    if (job.settled) return;
    if (!line.isOpen()) return fail(job, 'io', `serial port ${settings.path} is not open (unplugged or missing?)`);
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
    const txMs = Math.ceil((frame.length * 11 * 1000) / settings.baudRate);
    job.timer = setTimeout(() => onTimeout(job), txMs + job.req.timeoutMs);
    line.write(frame).catch((err: Error) => fail(job, 'io', `write failed: ${err.message}`));
    await settledP;
  }

  async function pump(): Promise<void> {
    if (current) return;
    while (queue.length) {
      const job = queue.shift()!;
      if (job.settled) continue;
      current = job;
      try {
        await run(job);
      } catch (err) {
        fail(job, 'io', `exchange failed: ${(err as Error).message}`);
      } finally {
        current = undefined;
        lastEnd = performance.now();
      }
    }
  }

  return {
    members,
    exchange(member, req) {
      return new Promise<Frame>((resolve, reject) => {
        queue.push({ req, device: member.device, preamble: member.preamble, settled: false, garbage: 0, resolve, reject });
        void pump();
      });
    },
    cancel(device) {
      for (const job of [...queue, ...(current ? [current] : [])]) {
        if (job.device === device) fail(job, 'io', 'cancelled: device stopping', true);
      }
    },
    stats: () => ({ path: settings.path, opens: line.opens(), ...st }),
    async close() {
      for (const job of [...queue, ...(current ? [current] : [])]) fail(job, 'io', 'cancelled: port closing', true);
      for (const w of openWaiters) w();
      await line.stop();
    },
  };
}
