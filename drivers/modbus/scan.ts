// `wayside scan modbus`: finds the units on a Modbus bus (RTU on a serial port, or behind a TCP
// gateway / DTU) by sending one read request per unit id and line setting, through the driver's
// own buses and links (ports.ts, link.ts): no protocol byte is made here. Any reply proves a unit
// (an exception too, except a gateway's "path unavailable" / "target failed to respond"); garbled
// replies are counted per setting (a hint that devices talk at another speed). A found unit is
// then read at the probe points of each shipped profile to guess its model. Only read functions
// (1-4) are ever sent: a scan never writes to a device.
import { silentLog } from '../../runtime/log.ts';
import type { Log } from '../../runtime/types.ts';
import { createBusRegistry, type BusRegistry } from '../common/bus.ts';
import { decodeRegisters, isBitTable, pointWidth, toEngineering, type Table } from './codec.ts';
import { ModbusError } from './errors.ts';
import { bitAt, FC, type ModbusRequest } from './frame.ts';
import type { ModbusPoint } from './point-schema.ts';
import { busAddress, createModbusBuses, request, rtuFrameDelayMs, type Port } from './ports.ts';
import { listProfiles, loadProfile, type ModbusProfile } from './profiles.ts';
import type { TransportConfig } from './schema.ts';

export type Parity = 'none' | 'even' | 'odd';

/** Where to scan: a serial port over a list of line settings, or one TCP gateway. */
export type ModbusScanTarget =
  | { type: 'rtu'; port: string; bauds: number[]; parities: Parity[]; dataBits?: 7 | 8; stopBits?: 1 | 2 }
  | { type: 'tcp' | 'rtu-over-tcp'; host: string; port: number };

/** One way of talking to the bus: a transport as the config writes it. */
export type ScanSetting = TransportConfig;

export interface ModbusScanOptions {
  target: ModbusScanTarget;
  /** Unit ids to try, in order. */
  ids: number[];
  /** Reply timeout per request; default `defaultTimeoutMs` of each setting. */
  timeoutMs?: number;
  /** What the id probe reads (one register or bit); default holding register 0. */
  register?: { table: Table; address: number };
  /** Profiles whose `probe` points are tried on each found unit; default the shipped ones. */
  profiles?: ModbusProfile[];
  /** Called before each probe and after each setting (progress display). */
  onProgress?(p: ScanProgress): void;
  /** Called when a setting is done, with what it found. */
  onSetting?(s: SettingSummary): void;
  /** Stops the scan between probes (Ctrl-C); the result says `aborted`. */
  signal?: AbortSignal;
  /** Buses to open the port through (tests); default a fresh registry. */
  registry?: BusRegistry;
  log?: Log;
  /** How long to wait for a serial port or TCP connection to open (default 3 s). */
  openTimeoutMs?: number;
}

export interface ScanProgress {
  /** Probes done and total (id probes; profile probes are not counted). */
  done: number;
  total: number;
  setting: string;
  unitId: number;
  found: number;
}

export interface FoundUnit {
  unitId: number;
  /** Every setting the unit answered at; the first is the one the snippet uses. */
  settings: ScanSetting[];
  /** The id probe's answer: the value read, or the exception code the unit replied with. */
  answer: { value: number } | { exception: number };
  /** Profiles whose every probe point answered within its range, best (most probes) first. */
  profiles: string[];
}

export interface SettingSummary {
  setting: string;
  probes: number;
  found: number[];
  /** Replies with a bad CRC or that made no frame: noise, or devices at another speed. */
  garbled: number;
  timeouts: number;
  ms: number;
}

export interface ModbusScanResult {
  units: FoundUnit[];
  settings: SettingSummary[];
  probes: number;
  ms: number;
  aborted: boolean;
}

/** Thrown when the port cannot be used at all (missing, busy, refused); the CLI exits 1. */
export class ScanPortError extends Error {}

/** Gateway exceptions that mean "nobody there": 10 path unavailable, 11 target failed to respond. */
const GATEWAY_ABSENT = new Set([10, 11]);

/** The line settings a target is scanned at, in sweep order (each baud with each parity). */
export function scanSettings(t: ModbusScanTarget): ScanSetting[] {
  if (t.type !== 'rtu') return [{ type: t.type, host: t.host, port: t.port } as ScanSetting];
  return t.bauds.flatMap((baudRate) => t.parities.map((parity): ScanSetting => ({
    type: 'rtu', port: t.port, baudRate, parity, dataBits: t.dataBits ?? 8, stopBits: t.stopBits ?? 1,
  })));
}

export function settingText(s: ScanSetting): string {
  if (s.type === 'rtu') return `${s.baudRate} ${s.dataBits}${s.parity[0].toUpperCase()}${s.stopBits}`;
  return `${s.type} ${s.host}:${s.port}`;
}

/**
 * The reply timeout of one probe: the request (8 bytes) and the longest reply (7 bytes) on the
 * wire, 3.5 characters of silence, and 60 ms for the device to turn round; at least 100 ms. A
 * gateway relays to its own serial line: 300 ms.
 */
export function defaultTimeoutMs(s: ScanSetting): number {
  if (s.type !== 'rtu') return 300;
  const bits = 1 + s.dataBits + (s.parity === 'none' ? 0 : 1) + s.stopBits;
  const wire = (15 * bits * 1000) / s.baudRate + rtuFrameDelayMs(s);
  return Math.max(100, Math.ceil((wire + 60) / 10) * 10);
}

/** Worst case (nobody answers) of a scan, in ms: every probe waits out its timeout. */
export function estimateScanMs(opts: Pick<ModbusScanOptions, 'target' | 'ids' | 'timeoutMs'>): number {
  return scanSettings(opts.target).reduce((sum, s) => {
    const gap = s.type === 'rtu' ? rtuFrameDelayMs(s) : 0;
    return sum + opts.ids.length * ((opts.timeoutMs ?? defaultTimeoutMs(s)) + gap + 2);
  }, 0);
}

/** "1-5,9,20-22" -> [1..5, 9, 20, 21, 22]; throws on anything outside `min`..`max`. */
export function parseIdList(text: string, min = 1, max = 247): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`expected unit ids like "1-247" or "1,2,10-20", got ${JSON.stringify(part)}`);
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (a < min || b > max || a > b) throw new Error(`unit ids must be ${min}-${max} in increasing ranges, got ${JSON.stringify(part)}`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (!out.size) throw new Error('no unit ids given');
  return [...out];
}

const READ_FN: Record<Table, number> = { coil: FC.readCoils, discrete: FC.readDiscreteInputs, holding: FC.readHoldingRegisters, input: FC.readInputRegisters };

/** A read request; the only kind this file makes. */
function readRequest(unitId: number, table: Table, address: number, count: number): ModbusRequest {
  return { unitId, fn: READ_FN[table], address, count };
}

/**
 * Reads one profile point; the value in engineering units, or undefined when it did not answer.
 * The unit is known to be there: a lost or garbled reply is tried once more, an exception is final.
 */
async function readPoint(port: Port, unitId: number, p: ModbusPoint, timeoutMs: number): Promise<number | boolean | undefined> {
  const count = pointWidth(p);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const data = await request(port, 'scan', readRequest(unitId, p.table, p.address, count), timeoutMs);
      if (isBitTable(p.table)) return bitAt(data, 0);
      const v = toEngineering(p, decodeRegisters(p, data));
      return typeof v === 'string' ? undefined : v;
    } catch (err) {
      if (!(err instanceof ModbusError) || err.kind === 'exception' || err.kind === 'io') return undefined;
    }
  }
  return undefined;
}

/** The profiles whose probe points all answer plausibly, most probe points first. */
async function guessProfiles(port: Port, unitId: number, profiles: ModbusProfile[], timeoutMs: number): Promise<string[]> {
  const hits: { ref: string; n: number }[] = [];
  for (const prof of profiles) {
    if (!prof.probe?.length) continue;
    let ok = true;
    for (const pr of prof.probe) {
      const point = prof.points.find((p) => p.name === pr.point);
      const v = point && (await readPoint(port, unitId, point, timeoutMs));
      const n = typeof v === 'boolean' ? Number(v) : v;
      if (n === undefined || !(n >= pr.min && n <= pr.max)) {
        ok = false;
        break;
      }
    }
    if (ok) hits.push({ ref: prof.ref, n: prof.probe.length });
  }
  return hits.sort((a, b) => b.n - a.n).map((h) => h.ref);
}

/** The shipped profiles that declare probe points (a broken one is skipped, not fatal). */
export function probeProfiles(): ModbusProfile[] {
  return listProfiles().flatMap((n) => {
    try {
      const p = loadProfile(n);
      return p.probe?.length ? [p] : [];
    } catch {
      return [];
    }
  });
}

export async function scanModbus(opts: ModbusScanOptions): Promise<ModbusScanResult> {
  const log = opts.log ?? silentLog();
  const registry = opts.registry ?? createBusRegistry({ reopen: { minMs: 200, maxMs: 1000 } });
  const buses = createModbusBuses(registry);
  const register = opts.register ?? { table: 'holding' as Table, address: 0 };
  const profiles = opts.profiles ?? probeProfiles();
  const settings = scanSettings(opts.target);
  const total = settings.length * opts.ids.length;
  const units = new Map<number, FoundUnit>();
  const summaries: SettingSummary[] = [];
  const t0 = performance.now();
  let done = 0;
  let aborted = false;

  for (const s of settings) {
    if (opts.signal?.aborted) {
      aborted = true;
      break;
    }
    const name = settingText(s);
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs(s);
    const sum: SettingSummary = { setting: name, probes: 0, found: [], garbled: 0, timeouts: 0, ms: 0 };
    const ts = performance.now();
    // A second member holds the bus open while the port opens with a generous timeout: the
    // probes' short timeouts must not be spent on opening the port.
    const keeper = registry.acquire(busAddress(s), { owner: 'scan-open', family: 'scan', gapMs: 0, log });
    const handle = buses.acquire(s, 'scan', log);
    try {
      try {
        await keeper.bus.pipe.ensureOpen(opts.openTimeoutMs ?? 3000);
      } catch (err) {
        throw new ScanPortError(`${s.type === 'rtu' ? s.port : `${s.host}:${s.port}`}: ${(err as Error).message}`);
      }
      for (const unitId of opts.ids) {
        opts.onProgress?.({ done, total, setting: name, unitId, found: units.size });
        if (opts.signal?.aborted) {
          aborted = true;
          break;
        }
        const answer = await probe(handle.port, unitId, register, timeoutMs, sum);
        done++;
        if (!answer) continue;
        sum.found.push(unitId);
        const known = units.get(unitId);
        if (known) known.settings.push(s);
        else units.set(unitId, { unitId, settings: [s], answer, profiles: await guessProfiles(handle.port, unitId, profiles, timeoutMs) });
      }
    } finally {
      await handle.release('scan');
      await keeper.release();
    }
    sum.ms = Math.round(performance.now() - ts);
    summaries.push(sum);
    opts.onProgress?.({ done, total, setting: name, unitId: 0, found: units.size });
    opts.onSetting?.(sum);
  }
  return { units: [...units.values()].sort((a, b) => a.unitId - b.unitId), settings: summaries, probes: done, ms: Math.round(performance.now() - t0), aborted };
}

/** One id probe: the unit's answer, or undefined (silence, garbage, a gateway's "nobody"). */
async function probe(port: Port, unitId: number, reg: { table: Table; address: number }, timeoutMs: number, sum: SettingSummary): Promise<FoundUnit['answer'] | undefined> {
  // A garbled reply may be a one-off (noise): one more try before it counts.
  for (let attempt = 0; attempt < 2; attempt++) {
    sum.probes++;
    try {
      const data = await request(port, 'scan', readRequest(unitId, reg.table, reg.address, 1), timeoutMs);
      return { value: isBitTable(reg.table) ? Number(bitAt(data, 0)) : data.readUInt16BE(0) };
    } catch (err) {
      if (!(err instanceof ModbusError)) throw err;
      if (err.kind === 'exception') return GATEWAY_ABSENT.has(err.exceptionCode ?? 0) ? undefined : { exception: err.exceptionCode ?? 0 };
      if (err.kind === 'timeout') {
        sum.timeouts++;
        return undefined;
      }
      if (err.kind === 'io') throw new ScanPortError(err.message.replace(/^device "scan" /, ''));
      sum.garbled++;
    }
  }
  return undefined;
}

/** A device id for the snippet: `modbus-3`, or `<profile>-3`. */
function deviceId(u: FoundUnit): string {
  const prof = u.profiles.length === 1 ? u.profiles[0] : undefined;
  return `${prof && /^[a-z0-9][a-z0-9._-]*$/.test(prof) ? prof : 'modbus'}-${u.unitId}`;
}

function transportYaml(s: ScanSetting): string {
  if (s.type === 'rtu') return `{ type: rtu, port: ${JSON.stringify(s.port)}, baudRate: ${s.baudRate}, parity: ${s.parity}, dataBits: ${s.dataBits}, stopBits: ${s.stopBits} }`;
  return `{ type: ${s.type}, host: ${JSON.stringify(s.host)}, port: ${s.port} }`;
}

/**
 * The `devices:` entries for what was found, ready to paste into a config: one per unit, at the
 * first setting it answered, with its profile when exactly one matched. A unit with no profile
 * (or several candidates) gets the register the scan read as its one point, and a comment.
 */
export function modbusSnippet(result: Pick<ModbusScanResult, 'units'>, reg: { table: Table; address: number } = { table: 'holding', address: 0 }): string {
  if (!result.units.length) return '';
  const lines = ['devices:'];
  for (const u of result.units) {
    const s = u.settings[0];
    lines.push(`  - id: ${deviceId(u)}`, '    driver: modbus', `    transport: ${transportYaml(s)}`, `    unitId: ${u.unitId}`);
    if (u.profiles.length === 1) lines.push(`    profile: ${u.profiles[0]}`);
    else {
      const why = u.profiles.length ? `candidates: ${u.profiles.join(', ')}` : 'no shipped profile recognised it';
      lines.push(`    # ${why}: the register the scan read, until a profile or the device's points replace it`);
      lines.push(`    points: [{ name: ${reg.table}_${reg.address}, table: ${reg.table}, address: ${reg.address} }]`);
    }
  }
  return lines.join('\n') + '\n';
}
