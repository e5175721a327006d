// `wayside scan dlt645`: finds the meters on an RS-485 line. First the broadcast read-address
// (address AA AA AA AA AA AA, control 0x13), which every meter answers: one clean reply is the
// one meter. When several answer at once their replies collide (checksum errors, garbage), and
// the scan narrows down with wildcard addresses, which DL/T 645-2007 allows from the high end
// (AAH for each unknown byte): a read of energy (DI 00 01 00 00, every meter has it, an error
// reply still carries the address) to AAAAAAAAAA00..AAAAAAAAAA99 for the lowest byte; a clean
// reply names a meter, a collision there narrows to the next byte under it. Frames come from the
// family's codec; only read requests (0x11, 0x13) are ever sent.
import { silentLog } from '../../runtime/log.ts';
import type { Log } from '../../runtime/types.ts';
import { createBusRegistry, type BusRegistry, type Receiver } from '../common/bus.ts';
import {
  BROADCAST_ADDRESS, CTRL_FN_MASK, CTRL_REPLY, FN_READ_ADDRESS, FN_READ_DATA, addressFromBytes, createFrameParser, diToBytes, encodeFrame,
  CTRL_ERROR, type Frame,
} from './codec.ts';

export type Parity = 'none' | 'even' | 'odd';

export interface Dlt645ScanOptions {
  port: string;
  /** Speeds to try in order (default 2400); the sweep runs at the first one meters answer at. */
  bauds?: number[];
  parity?: Parity;
  /** How long to listen after each request is on the wire (default: 500 ms + the reply's time). */
  timeoutMs?: number;
  /** FE wake-up bytes before each request (default 4). */
  preamble?: number;
  /** Idle time between exchanges (default 20 ms). */
  gapMs?: number;
  onProgress?(p: { done: number; total: number; address: string; found: number }): void;
  signal?: AbortSignal;
  registry?: BusRegistry;
  log?: Log;
  openTimeoutMs?: number;
}

export interface FoundMeter {
  address: string;
  baudRate: number;
  parity: Parity;
  /** How it was found: the broadcast alone, or the wildcard sweep. */
  via: 'broadcast' | 'sweep';
}

export interface Dlt645SettingSummary {
  setting: string;
  /** What the broadcast read-address got: nothing, one meter, or a collision of several. */
  broadcast: 'silent' | 'one' | 'collision';
  probes: number;
  ms: number;
}

export interface Dlt645ScanResult {
  meters: FoundMeter[];
  settings: Dlt645SettingSummary[];
  probes: number;
  ms: number;
  aborted: boolean;
  /** Wildcard addresses where replies still collided with every byte fixed (two meters, one address). */
  unresolved: string[];
}

/** Thrown when the port cannot be opened; the CLI exits 1. */
export class Dlt645ScanPortError extends Error {}

/** The DI every meter has: active energy import, total. */
const SWEEP_DI = diToBytes('00010000');

/** Replies seen in one listening window. */
interface Heard {
  frames: Frame[];
  /** Frames with a bad checksum or end byte, and bytes that made no frame: a collision, or noise. */
  bad: number;
  garbage: number;
}

/** Default listening window: a meter may take up to 500 ms to answer, plus the reply on the wire. */
export function defaultDlt645TimeoutMs(baudRate: number): number {
  return 500 + Math.ceil((24 * 11 * 1000) / baudRate);
}

const txMs = (bytes: number, baudRate: number) => Math.ceil((bytes * 11 * 1000) / baudRate);

/** Worst case of the broadcast pass at every speed, and of one sweep level (100 addresses) at the slowest, ms. */
export function estimateDlt645Ms(opts: Pick<Dlt645ScanOptions, 'bauds' | 'timeoutMs' | 'gapMs'>): { broadcast: number; perLevel: number } {
  const bauds = opts.bauds ?? [2400];
  const one = (b: number) => (opts.timeoutMs ?? defaultDlt645TimeoutMs(b)) + txMs(20, b) + (opts.gapMs ?? 20);
  return { broadcast: bauds.reduce((s, b) => s + one(b), 0), perLevel: 100 * Math.max(...bauds.map(one)) };
}

const bcd = (n: number) => String(Math.floor(n / 10)) + String(n % 10);

export async function scanDlt645(opts: Dlt645ScanOptions): Promise<Dlt645ScanResult> {
  const log = opts.log ?? silentLog();
  const registry = opts.registry ?? createBusRegistry({ reopen: { minMs: 200, maxMs: 1000 } });
  const parity = opts.parity ?? 'even';
  const meters = new Map<string, FoundMeter>();
  const settings: Dlt645SettingSummary[] = [];
  const unresolved: string[] = [];
  const t0 = performance.now();
  let probes = 0;
  let aborted = false;

  for (const baudRate of opts.bauds ?? [2400]) {
    if (opts.signal?.aborted) {
      aborted = true;
      break;
    }
    const ts = performance.now();
    const timeoutMs = opts.timeoutMs ?? defaultDlt645TimeoutMs(baudRate);
    const handle = registry.acquire(
      { type: 'serial', line: { path: opts.port, baudRate, dataBits: 8, parity, stopBits: 1 } },
      { owner: 'scan', family: 'dlt645', gapMs: opts.gapMs ?? 20, log },
    );
    const bus = handle.bus;
    const parser = createFrameParser();
    let heard: Heard | undefined;
    const receiver: Receiver = {
      onData(chunk) {
        for (const ev of parser.push(chunk)) {
          if (!heard) continue;
          if (ev.type === 'garbage') heard.garbage += ev.bytes;
          else if (ev.type === 'bad-frame') heard.bad++;
          else if (ev.frame.control & CTRL_REPLY) heard.frames.push(ev.frame);
          // else: our own request echoed by the adapter
        }
      },
      onDown() {},
      onFault() {
        parser.reset();
        if (heard) heard.bad++;
      },
    };
    /** Sends one request and listens for the whole window: several meters may answer. */
    const listen = (address: string, control: number, data?: Uint8Array): Promise<Heard> =>
      bus.run('scan', receiver, async () => {
        parser.reset();
        const h: Heard = { frames: [], bad: 0, garbage: 0 };
        heard = h;
        const frame = encodeFrame({ address, control, data }, { preamble: opts.preamble ?? 4 });
        probes++;
        await bus.pipe.write(frame);
        await new Promise((r) => setTimeout(r, txMs(frame.length, baudRate) + timeoutMs));
        heard = undefined;
        return h;
      });
    const setting = `${baudRate} 8${parity[0].toUpperCase()}1`;
    const summary: Dlt645SettingSummary = { setting, broadcast: 'silent', probes: 0, ms: 0 };
    const p0 = probes;
    const found = (f: Frame, via: FoundMeter['via']) => {
      // A read-address reply carries the address in its data too; the header is what every reply has.
      const address = (f.control & CTRL_FN_MASK) === FN_READ_ADDRESS && !(f.control & CTRL_ERROR) && f.data.length === 6 ? addressFromBytes(f.data) : f.address;
      if (/^\d{12}$/.test(address) && !meters.has(address)) meters.set(address, { address, baudRate, parity, via });
    };
    try {
      try {
        await bus.pipe.ensureOpen(opts.openTimeoutMs ?? 3000);
      } catch (err) {
        throw new Dlt645ScanPortError(`${opts.port}: ${(err as Error).message}`);
      }
      opts.onProgress?.({ done: 0, total: 1, address: BROADCAST_ADDRESS, found: meters.size });
      const b = await listen(BROADCAST_ADDRESS, FN_READ_ADDRESS);
      const replies = b.frames.filter((f) => (f.control & CTRL_FN_MASK) === FN_READ_ADDRESS);
      if (replies.length === 1 && !b.bad && !b.garbage) {
        summary.broadcast = 'one';
        found(replies[0], 'broadcast');
      } else if (replies.length || b.bad || b.garbage) {
        summary.broadcast = 'collision';
        for (const f of replies) found(f, 'sweep');
        // Narrow from the lowest byte up: `low` holds the fixed digits, printed order (high first).
        const sweep = async (low: string): Promise<void> => {
          for (let n = 0; n < 100; n++) {
            if (opts.signal?.aborted) {
              aborted = true;
              return;
            }
            const digits = bcd(n) + low;
            const address = 'A'.repeat(12 - digits.length) + digits;
            opts.onProgress?.({ done: n, total: 100, address, found: meters.size });
            const h = await listen(address, FN_READ_DATA, SWEEP_DI);
            const answers = h.frames.filter((f) => (f.control & CTRL_FN_MASK) === FN_READ_DATA);
            for (const f of answers) found(f, 'sweep');
            if (h.bad || h.garbage) {
              if (digits.length < 12) await sweep(digits);
              else unresolved.push(address);
            }
          }
        };
        await sweep('');
      }
    } finally {
      await handle.release();
    }
    summary.probes = probes - p0;
    summary.ms = Math.round(performance.now() - ts);
    settings.push(summary);
    // Meters answer at one speed: once found, the other speeds are not tried.
    if (meters.size || aborted) break;
  }
  return { meters: [...meters.values()].sort((a, b) => a.address.localeCompare(b.address)), settings, probes, ms: Math.round(performance.now() - t0), aborted, unresolved };
}

/** `devices:` entries for the meters found, ready to paste into a config. */
export function dlt645Snippet(result: Pick<Dlt645ScanResult, 'meters'>, port: string): string {
  if (!result.meters.length) return '';
  const lines = ['devices:'];
  for (const m of result.meters) {
    lines.push(`  - id: meter-${m.address.replace(/^0+(?=\d)/, '')}`, '    driver: dlt645', `    port: ${JSON.stringify(port)}`, `    baudRate: ${m.baudRate}`, `    parity: ${m.parity}`, `    address: "${m.address}"`);
  }
  return lines.join('\n') + '\n';
}
