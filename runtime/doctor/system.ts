// The gateway itself: is the clock trusted (what the system says of NTP, and the offset where
// it tells it), and is there room on the state filesystem for the outbox to reach its cap?
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WaysideConfig } from '../config/index.ts';
import { DEFAULT_SYNC_MARKER, MIN_VALID_TIME } from '../clock.ts';
import type { Outcome } from './check.ts';

/** Runs a program, resolving with its stdout, or undefined when it is missing or fails. */
export type Exec = (file: string, args: string[], timeoutMs: number) => Promise<string | undefined>;

export const exec: Exec = (file, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (err, out) => resolve(err ? undefined : String(out)));
  });

/** `key=value` lines (timedatectl show). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

/** The offset in ms from `timedatectl timesync-status` ("Offset: +1.234ms") or `chronyc tracking` ("System time : 0.000012 seconds fast"). */
export function parseOffsetMs(text: string): number | undefined {
  const td = /^\s*Offset:\s*([+-]?[\d.]+)(us|µs|ms|s|min)\b/m.exec(text);
  if (td) {
    const n = Number(td[1]);
    const unit = { us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, min: 60_000 }[td[2]] ?? 1;
    return n * unit;
  }
  const ch = /^System time\s*:\s*([\d.]+) seconds (fast|slow)/m.exec(text);
  if (ch) return Number(ch[1]) * 1000 * (ch[2] === 'fast' ? 1 : -1);
  return undefined;
}

const OFFSET_WARN_MS = 1000;

export interface ClockDeps {
  exec?: Exec;
  now?: () => number;
  syncMarker?: string;
  /** The running agent's view (its health `clock.trusted`), when known. */
  agentTrusted?: boolean;
}

/** NTP state and offset from timedatectl, else the systemd-timesyncd marker, else chrony; never fails for a missing tool. */
export async function checkClock(config: WaysideConfig, deps: ClockDeps = {}): Promise<Outcome> {
  const run = deps.exec ?? exec;
  const now = (deps.now ?? Date.now)();
  const agent = deps.agentTrusted === undefined ? '' : `; the running agent ${deps.agentTrusted ? 'trusts' : 'does not trust'} its clock`;
  const at = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
  if (now < MIN_VALID_TIME) {
    return { status: 'fail', detail: `the clock says ${at}, before this release was made: it was never set`, hint: 'the gateway has no time source: check NTP (timedatectl status) and that the network lets NTP out (UDP 123)' };
  }
  const offsetText = async (): Promise<{ text: string; ms?: number }> => {
    const out = (await run('timedatectl', ['timesync-status'], 1500)) ?? (await run('chronyc', ['tracking'], 1500));
    const ms = out === undefined ? undefined : parseOffsetMs(out);
    return { text: ms === undefined ? '' : `, offset ${Math.round(ms * 10) / 10} ms`, ms };
  };
  const show = await run('timedatectl', ['show'], 1500);
  const kv = show === undefined ? undefined : parseKeyValues(show);
  if (kv && kv.NTPSynchronized !== undefined) {
    if (kv.NTPSynchronized === 'yes') {
      const off = await offsetText();
      if (off.ms !== undefined && Math.abs(off.ms) > OFFSET_WARN_MS) {
        return { status: 'warn', detail: `NTP synchronized but ${Math.round(off.ms)} ms off${agent}`, hint: 'the time server is far or unsteady: pick a nearer NTP server (timedatectl timesync-status shows it)' };
      }
      return { status: 'pass', detail: `NTP synchronized (timedatectl)${off.text}, clock ${at}${agent}` };
    }
    const ntp = kv.NTP === 'yes' ? 'NTP is on but not synchronized yet' : 'NTP is off';
    const trust = config.clock.trust === 'ntp' ? ': the agent marks every reading untrusted until it is (clock.trust: ntp)' : '';
    return {
      status: config.clock.trust === 'always' ? 'pass' : 'warn',
      detail: `${ntp} (timedatectl), clock ${at}${trust}${agent}`,
      hint: kv.NTP === 'yes' ? 'wait for the first sync; if it never comes, the network blocks NTP (UDP 123) or no server is set (timedatectl timesync-status)' : 'turn it on: sudo timedatectl set-ntp true',
    };
  }
  const marker = deps.syncMarker ?? DEFAULT_SYNC_MARKER;
  if (fs.existsSync(marker)) {
    const off = await offsetText();
    return { status: 'pass', detail: `synchronized (${marker} exists)${off.text}, clock ${at}${agent}` };
  }
  const chrony = await run('chronyc', ['tracking'], 1500);
  if (chrony !== undefined && /^Leap status\s*:\s*Normal/m.test(chrony)) {
    const ms = parseOffsetMs(chrony);
    return { status: 'pass', detail: `synchronized (chrony)${ms === undefined ? '' : `, offset ${Math.round(ms * 10) / 10} ms`}, clock ${at}${agent}` };
  }
  if (config.clock.trust === 'always') return { status: 'pass', detail: `clock.trust is "always": the agent trusts the clock (${at}) without NTP${agent}` };
  return {
    status: 'warn',
    detail: `cannot tell whether the clock is synchronized: no timedatectl answer, no ${marker}, no chrony; clock ${at}${agent}`,
    hint: 'check the time against a phone; on systemd, `timedatectl status` says whether NTP runs',
  };
}

/** The nearest existing directory at or above p (the state dir may not be made yet). */
function existing(p: string): string {
  let d = path.resolve(p);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

function size(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/** "1.2 GiB", "512 MiB", "900 B". */
export function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n >= 100 ? Math.round(n) : Math.round(n * 10) / 10} ${units[i]}`;
}

/** Free room besides what the outbox may still grow by, below which the check warns. */
export function headroom(totalBytes: number): number {
  return Math.max(64 << 20, Math.round(totalBytes * 0.05));
}

export interface DiskDeps {
  statfs?: (dir: string) => { bavail: number; bsize: number; blocks: number };
}

/** Room on the state filesystem vs the outbox's cap, and that the state dir is writable. */
export function checkDisk(config: WaysideConfig, deps: DiskDeps = {}): Outcome {
  const dir = config.gateway.stateDir;
  const at = existing(dir);
  try {
    fs.accessSync(at, fs.constants.W_OK);
  } catch {
    return { status: 'fail', detail: `${at} (the state directory${at === dir ? '' : ` ${dir} is to be made there`}) is not writable by user ${os.userInfo().username}`, hint: `give it to the agent's user: sudo chown -R wayside: ${dir}` };
  }
  let s: { bavail: number; bsize: number; blocks: number };
  try {
    s = (deps.statfs ?? fs.statfsSync)(at);
  } catch (err) {
    return { status: 'warn', detail: `cannot measure the filesystem of ${at}: ${(err as Error).message}`, hint: 'check with `df -h ' + at + '`' };
  }
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const ob = config.outbox;
  const used = size(ob.path) + size(ob.path + '-wal') + size(ob.path + '-shm');
  const growth = Math.max(0, ob.maxBytes - used);
  const figures = `${human(free)} free of ${human(total)} on ${at}; the outbox holds ${human(used)} of its ${human(ob.maxBytes)} cap`;
  if (free < growth) {
    return {
      status: 'fail',
      detail: `${figures}: the disk fills before the outbox reaches its cap`,
      hint: `free ${human(growth - free)} or more on ${at}, or lower outbox.maxBytes to ${human(Math.max(0, used + free - headroom(total)))} or less`,
    };
  }
  if (free - growth < headroom(total)) {
    return { status: 'warn', detail: `${figures}: little room left besides the outbox's (${human(free - growth)})`, hint: `free space on ${at} (logs, old files), or lower outbox.maxBytes` };
  }
  return { status: 'pass', detail: figures };
}
