// Turns readings into tumbling-window summaries, one window per point.
// Windows are timed on the monotonic clock so a wall-clock step (NTP sync on an RTC-less
// box) neither stretches nor shrinks them; start/end are wall stamps in the time base the
// window was opened in, so a correction later shifts both consistently.
// With a trusted clock the first close lands on a wall multiple of the window (a 60 s
// window closes at :00) and later windows follow on mono, nudged for slow drift.
// String values are not summarized (no meaningful min/max): publish them with mode 'raw'.
import type { ClockFlag, Ctx, Reading, Summary } from './types.ts';

export type PublishMode = 'summaries' | 'raw' | 'both';
export interface PointPolicy { mode: PublishMode; windowMs: number }

export interface SummarizerOptions {
  policy: (device: string, point: string) => PointPolicy;
  /** How often due windows are checked (default 250 ms). */
  tickMs?: number;
}

export interface Summarizer {
  start(): void;
  /** Stops listening and emits every non-empty open window with `partial: true`. */
  stop(): void;
  /** Number of windows currently open. */
  open(): number;
  /** Number of points with state held (open windows plus points that closed one recently). */
  tracked(): number;
  /**
   * The policy function answers differently now (live reconfiguration): every point whose window
   * length changed or that went raw closes its open window (emitted `partial: true`, nothing lost) and
   * starts afresh with its next reading; the open windows of unchanged points go on. Returns how
   * many points were cut.
   */
  repolicy(): number;
}

export const MIN_WINDOW_MS = 1000;
export const MAX_WINDOW_MS = 3_600_000;
/** Wall vs mono disagreement beyond this at a close is a clock step, not drift: realign. */
const STEP_MS = 2000;
const OWNER = 'summarizer';

interface PointState {
  device: string;
  point: string;
  windowMs: number;
  isOpen: boolean;
  aligned: boolean;
  startWall: number;
  endWall: number;
  startMono: number;
  deadline: number;
  count: number;
  bad: number;
  n: number;
  min: number;
  max: number;
  sum: number;
  last: number;
  unit?: string;
  flag?: ClockFlag;
}

const clampWindow = (ms: number): number => Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, Math.round(ms)));

export function createSummarizer(ctx: Ctx, opts: SummarizerOptions): Summarizer {
  const { bus, clock } = ctx;
  const log = ctx.log.child({ mod: OWNER });
  const tickMs = opts.tickMs ?? 250;
  // device -> point -> state; nested maps avoid building a key string per reading.
  const points = new Map<string, Map<string, PointState>>();
  const openSet = new Set<PointState>();
  let nextDue = Infinity;
  let timer: NodeJS.Timeout | undefined;

  let tracked = 0;
  const forget = (ps: PointState): void => {
    const byPoint = points.get(ps.device);
    if (byPoint?.get(ps.point) !== ps) return;
    byPoint.delete(ps.point);
    tracked--;
    if (byPoint.size === 0) points.delete(ps.device);
  };

  /** The point's state; undefined for a point that is not summarized (raw), which keeps none. */
  const stateFor = (r: Reading): PointState | undefined => {
    let ps = points.get(r.device)?.get(r.point);
    if (!ps) {
      const p = opts.policy(r.device, r.point);
      if (p.mode === 'raw') return undefined;
      let byPoint = points.get(r.device);
      if (!byPoint) points.set(r.device, (byPoint = new Map()));
      const windowMs = clampWindow(p.windowMs);
      if (windowMs !== p.windowMs) log.warn({ device: r.device, point: r.point, windowMs: p.windowMs, used: windowMs }, 'window length out of range; clamped');
      ps = {
        device: r.device, point: r.point, windowMs,
        isOpen: false, aligned: false, startWall: 0, endWall: 0, startMono: 0, deadline: 0,
        count: 0, bad: 0, n: 0, min: Infinity, max: -Infinity, sum: 0, last: NaN,
      };
      byPoint.set(r.point, ps);
      tracked++;
    }
    return ps;
  };

  const reset = (ps: PointState): void => {
    ps.count = 0; ps.bad = 0; ps.n = 0; ps.sum = 0;
    ps.min = Infinity; ps.max = -Infinity; ps.last = NaN;
    ps.flag = clock.flag();
  };

  /** Open a window at (wall, mono); aligned to a wall multiple when the clock is trusted. */
  const openAt = (ps: PointState, wallAt: number, mono: number, snapStart: boolean): void => {
    const w = ps.windowMs;
    const wall = Math.round(wallAt); // derived from mono when realigning: whole ms on the wire
    ps.isOpen = true;
    ps.startMono = mono;
    if (clock.trusted()) {
      const boundary = Math.floor(wall / w) * w;
      ps.aligned = true;
      ps.startWall = snapStart ? boundary : wall;
      ps.endWall = boundary + w;
      // Realigning just before a boundary would make a sliver of a window: take the next one.
      if (!snapStart && ps.endWall - wall < w / 10) ps.endWall += w;
      ps.deadline = mono + (ps.endWall - wall);
    } else {
      ps.aligned = false;
      ps.startWall = wall;
      ps.endWall = wall + w;
      ps.deadline = mono + w;
    }
    reset(ps);
    openSet.add(ps);
    if (ps.deadline < nextDue) nextDue = ps.deadline;
  };

  const emit = (ps: PointState, end: number, partial: boolean): void => {
    const s: Summary = {
      device: ps.device, point: ps.point, start: ps.startWall, end,
      count: ps.count,
      // A window of only bad readings still goes up (count/bad tell the story); no stats: NaN -> null in JSON.
      min: ps.n ? ps.min : NaN, max: ps.n ? ps.max : NaN, mean: ps.n ? ps.sum / ps.n : NaN, last: ps.last,
      bad: ps.bad,
    };
    if (ps.unit !== undefined) s.unit = ps.unit;
    if (partial) s.partial = true;
    if (ps.flag) s.clock = ps.flag;
    bus.emit('summary', s);
  };

  /** Close a due window; continue with the next one only if this one had readings. */
  const roll = (ps: PointState): void => {
    const hadData = ps.count > 0;
    if (hadData) emit(ps, ps.endWall, false);
    if (!hadData) {
      // A whole window without a reading: forget the point, so names a flow made up once do
      // not stay in memory forever. Its next reading starts afresh (same as a first one).
      ps.isOpen = false;
      openSet.delete(ps);
      forget(ps);
      return;
    }
    const w = ps.windowMs;
    const wallAtDeadline = clock.now() - (clock.mono() - ps.deadline);
    const drift = wallAtDeadline - ps.endWall;
    if (clock.trusted() && (!ps.aligned || Math.abs(drift) > STEP_MS)) {
      // Clock became trusted or stepped: start a fresh window in the new time base.
      openAt(ps, wallAtDeadline, ps.deadline, false);
      return;
    }
    ps.startWall = ps.endWall;
    ps.endWall += w;
    ps.startMono = ps.deadline;
    // Aligned windows absorb slow wall/mono drift so boundaries stay on the wall multiple.
    ps.deadline += ps.aligned ? w - drift : w;
    reset(ps);
    if (ps.deadline < nextDue) nextDue = ps.deadline;
  };

  const onReading = (r: Reading): void => {
    if (typeof r.value === 'string') return;
    let ps = stateFor(r);
    if (!ps) return;
    const mono = clock.mono();
    // A late tick must not let a reading fall into a window that is already over.
    while (ps.isOpen && mono >= ps.deadline) roll(ps);
    if (!ps.isOpen) {
      ps = stateFor(r) ?? ps; // an empty window closing just now forgot the old state
      openAt(ps, clock.now(), mono, true);
    }
    ps.count++;
    if (r.unit !== undefined) ps.unit = r.unit;
    if (r.clock && !ps.flag) ps.flag = r.clock;
    if (r.quality !== 'good') ps.bad++;
    if (r.quality === 'bad') return;
    const v = typeof r.value === 'boolean' ? (r.value ? 1 : 0) : r.value;
    if (!Number.isFinite(v)) return;
    ps.n++;
    ps.sum += v;
    if (v < ps.min) ps.min = v;
    if (v > ps.max) ps.max = v;
    ps.last = v;
  };

  const tick = (): void => {
    const mono = clock.mono();
    if (mono < nextDue) return; // the common tick: nothing due, no scan
    nextDue = Infinity;
    for (const ps of openSet) {
      if (mono >= ps.deadline) roll(ps);
      if (ps.isOpen && ps.deadline < nextDue) nextDue = ps.deadline;
    }
  };

  /** Emits a window cut short now (as stop() does) and forgets the point. */
  const cut = (ps: PointState, mono: number): boolean => {
    if (ps.isOpen && mono >= ps.deadline) roll(ps);
    let flushed = false;
    if (ps.isOpen && ps.count > 0) {
      emit(ps, Math.round(ps.endWall - (ps.deadline - mono)), true);
      flushed = true;
    }
    ps.isOpen = false;
    openSet.delete(ps);
    forget(ps);
    return flushed;
  };

  const repolicy = (): number => {
    const mono = clock.mono();
    let n = 0;
    for (const byPoint of [...points.values()]) {
      for (const ps of [...byPoint.values()]) {
        const p = opts.policy(ps.device, ps.point);
        if (p.mode !== 'raw' && clampWindow(p.windowMs) === ps.windowMs) continue; // summaries <-> both: same window
        cut(ps, mono);
        n++;
      }
    }
    if (n) log.info({ points: n }, 'summary policy changed; cut windows emitted as partial');
    return n;
  };

  return {
    repolicy,
    start() {
      if (timer) return;
      bus.on('reading', OWNER, onReading);
      timer = setInterval(tick, tickMs);
      timer.unref();
      log.debug({ tickMs }, 'summarizer started');
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      bus.off(OWNER);
      const mono = clock.mono();
      let flushed = 0;
      for (const ps of openSet) {
        if (mono >= ps.deadline) { roll(ps); if (!ps.isOpen) continue; }
        if (ps.count > 0) {
          // End in the window's own time base: planned end minus the time still to go, whole ms
          // (mono is fractional; ts/end are integers on the wire).
          emit(ps, Math.round(ps.endWall - (ps.deadline - mono)), true);
          flushed++;
        }
        ps.isOpen = false;
      }
      openSet.clear();
      nextDue = Infinity;
      log.debug({ flushed }, 'summarizer stopped');
    },
    open: () => openSet.size,
    tracked: () => tracked,
  };
}
