// The gateway's time source. Many gateways have no RTC and boot with a wrong wall clock
// until NTP syncs; we stamp readings with an `untrusted` flag until then and, once the sync
// step is observed, remember the offset for this boot so queued records can be corrected
// at publish time (correctRecordJson). Windows and timeouts use mono(), which never jumps.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { newId } from './ids.ts';
import { ensureDir, writeJsonAtomic } from './state.ts';
import type { Clock, ClockFlag, Log, OutRecord } from './types.ts';

export type ClockTrust = 'auto' | 'ntp' | 'always';

/** Our own release floor: a wall clock earlier than this is surely unset (no RTC). */
export const MIN_VALID_TIME = Date.UTC(2026, 0, 1);
export const DEFAULT_SYNC_MARKER = '/run/systemd/timesync/synchronized';
const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id';
/** An offset change larger than this between polls is a step (NTP slew stays far below). */
const STEP_THRESHOLD_MS = 2000;
/** Corrections kept in clock.json: records of a few past boots may still sit in the outbox. */
const MAX_BOOTS_KEPT = 8;

export interface ClockChange {
  trusted: boolean;
  /** Size of the wall-clock step observed in this poll, if any. */
  stepMs?: number;
  /** Correction learned for this boot, when the clock just became trusted. */
  offsetMs?: number;
}

export interface ClockOptions {
  trust: ClockTrust;
  stateDir?: string;
  syncMarker?: string;
  minValidTime?: number;
  log: Log;
  /** Poll period (default 2000 ms). */
  pollMs?: number;
  /** Time sources, injectable so tests can simulate a step. Default: Date.now; performance.now
   *  for mono(), CLOCK_MONOTONIC (since boot) for offsets. An injected mono serves both. */
  sources?: { wall(): number; mono(): number };
}

export interface GatewayClock extends Clock {
  onChange(fn: (change: ClockChange) => void): void;
  /** Offset (ms) to add to stamps carrying this flag, if known for the flag's boot. */
  correction(flag: ClockFlag): number | undefined;
  /** Check marker and offset now (the poll timer calls this). */
  poll(): void;
  /** This boot's id (Linux boot_id, or a per-process id where unavailable). */
  boot(): string;
  stop(): void;
}

interface Correction { boot: string; offsetMs: number }

export function createClock(opts: ClockOptions): GatewayClock {
  const log = opts.log;
  const wall = opts.sources?.wall ?? Date.now;
  const mono = opts.sources?.mono ?? (() => performance.now());
  // Offsets use CLOCK_MONOTONIC (ms since boot, shared by every process of this boot), so an
  // agent restarted after the NTP step still knows the offset its predecessor stamped with.
  const sinceBoot = opts.sources?.mono ?? (() => Number(process.hrtime.bigint() / 1_000_000n));
  const marker = opts.syncMarker ?? DEFAULT_SYNC_MARKER;
  const minValid = opts.minValidTime ?? MIN_VALID_TIME;
  const boot = readBootId();
  const file = opts.stateDir ? join(opts.stateDir, 'clock.json') : undefined;
  const state = loadState(file, log);
  const corrections = new Map<string, number>(state.boots.map((c) => [c.boot, c.offsetMs]));
  const listeners: ((c: ClockChange) => void)[] = [];
  const untrustedFlag: ClockFlag = Object.freeze({ state: 'untrusted', boot });

  let trusted = false;
  let lastOffset = wall() - sinceBoot();

  const checkTrust = (): boolean => {
    if (opts.trust === 'always') return true;
    const synced = existsSync(marker);
    return synced || (opts.trust === 'auto' && wall() >= minValid);
  };

  const save = (): void => {
    state.boots = [...corrections].slice(-MAX_BOOTS_KEPT).map(([b, offsetMs]) => ({ boot: b, offsetMs }));
    saveState(file, state, log);
  };

  const poll = (): void => {
    const offset = wall() - sinceBoot();
    const delta = offset - lastOffset;
    lastOffset = offset;
    const stepped = Math.abs(delta) > STEP_THRESHOLD_MS;
    if (stepped) log.info({ stepMs: Math.round(delta), trusted }, 'wall clock stepped');
    // Trust latches: once synced in this process the kernel keeps time even if timesyncd restarts.
    if (!trusted && checkTrust()) {
      trusted = true;
      // Known continuity between the untrusted and the trusted wall clock (with or without a
      // step), so every untrusted stamp of this boot is off by exactly this much.
      const offsetMs = Math.round(offset - (state.untrusted?.baseOffsetMs ?? offset));
      corrections.delete(boot); // re-insert so the newest boot sorts last (kept on trim)
      corrections.set(boot, offsetMs);
      state.untrusted = undefined;
      save();
      log.info({ offsetMs, boot }, 'wall clock trusted');
      notify({ trusted: true, offsetMs, ...(stepped ? { stepMs: Math.round(delta) } : {}) });
    } else if (stepped) {
      notify({ trusted, stepMs: Math.round(delta) });
    }
  };

  const notify = (c: ClockChange): void => {
    for (const fn of listeners) {
      try { fn(c); } catch (err) { log.error({ err }, 'clock listener failed'); }
    }
  };

  trusted = checkTrust();
  if (!trusted) {
    // The first untrusted start of this boot fixes the base every untrusted stamp shares.
    if (state.untrusted?.boot !== boot) {
      state.untrusted = { boot, baseOffsetMs: lastOffset };
      save();
    }
    log.warn({ boot, trust: opts.trust, wall: new Date(wall()).toISOString() }, 'wall clock not trusted yet; stamps flagged untrusted');
  }
  const timer = setInterval(poll, opts.pollMs ?? 2000);
  timer.unref();

  return {
    now: () => wall(),
    mono: () => mono(),
    trusted: () => trusted,
    flag: () => (trusted ? undefined : untrustedFlag),
    onChange: (fn) => { listeners.push(fn); },
    correction: (flag) => (flag.state === 'untrusted' && flag.boot ? corrections.get(flag.boot) : undefined),
    poll,
    boot: () => boot,
    stop: () => clearInterval(timer),
  };
}

/**
 * Rewrite a serialized OutRecord stamped with an untrusted clock once its boot's offset is
 * known: ts fields shifted, body.clock = corrected. Anything else is returned unchanged.
 */
export function correctRecordJson(json: string, clock: Pick<GatewayClock, 'correction'>): string {
  if (!json.includes('"untrusted"')) return json; // the common case costs one scan, no parse
  let rec: OutRecord;
  try { rec = JSON.parse(json) as OutRecord; } catch { return json; }
  const body = rec.body as unknown as Record<string, unknown> & { clock?: ClockFlag };
  if (!body || body.clock?.state !== 'untrusted') return json;
  const offsetMs = clock.correction(body.clock);
  if (offsetMs === undefined) return json;
  if (typeof rec.ts === 'number') rec.ts += offsetMs;
  for (const k of ['ts', 'start', 'end'] as const) {
    if (typeof body[k] === 'number') body[k] = (body[k] as number) + offsetMs;
  }
  body.clock = { state: 'corrected', offsetMs, boot: body.clock.boot };
  return JSON.stringify(rec);
}

function readBootId(): string {
  try {
    return readFileSync(BOOT_ID_PATH, 'utf8').trim();
  } catch {
    // Not Linux: corrections then only apply within this process.
    return `proc-${newId()}`;
  }
}

/** clock.json: {boot, offsetMs} of the newest correction, recent boots, and the untrusted base. */
interface ClockState {
  boots: Correction[];
  untrusted?: { boot: string; baseOffsetMs: number };
}

function loadState(file: string | undefined, log: Log): ClockState {
  if (!file || !existsSync(file)) return { boots: [] };
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { boot?: string; offsetMs?: number; boots?: Correction[]; untrusted?: ClockState['untrusted'] };
    const boots = (doc.boots ?? []).filter((c) => typeof c.boot === 'string' && Number.isFinite(c.offsetMs));
    // Also accept the bare single-boot shape { boot, offsetMs }.
    if (typeof doc.boot === 'string' && Number.isFinite(doc.offsetMs) && !boots.some((c) => c.boot === doc.boot)) {
      boots.push({ boot: doc.boot, offsetMs: doc.offsetMs as number });
    }
    const u = doc.untrusted;
    return { boots, untrusted: u && typeof u.boot === 'string' && Number.isFinite(u.baseOffsetMs) ? u : undefined };
  } catch (err) {
    log.warn({ err, file }, 'clock state unreadable; ignoring');
    return { boots: [] };
  }
}

function saveState(file: string | undefined, state: ClockState, log: Log): void {
  if (!file) return;
  const last = state.boots[state.boots.length - 1];
  try {
    ensureDir(dirname(file));
    writeJsonAtomic(file, { ...(last ? { boot: last.boot, offsetMs: last.offsetMs } : {}), ...state });
  } catch (err) {
    log.error({ err, file }, 'cannot persist clock state');
  }
}
