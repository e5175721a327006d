// Data-quality checks per point (config: devices[].perPoint.<point>.checks): out-of-range,
// spike, flatline and stale. Each stateful fault raises an event once and clears it when the
// point is healthy again; a spike is a one-shot event. Active faults degrade the device in
// health, so a meter that answers but reports nonsense is not shown as fine.
import { emitEvent } from './events.ts';
import type { PointChecks } from './config/index.ts';
import type { Ctx, Reading } from './types.ts';

export type QualityFault = 'out_of_range' | 'flatline' | 'stale';

export interface QualityPoint {
  device: string;
  point: string;
  checks: PointChecks;
}

export interface Quality {
  start(): void;
  stop(): void;
  /** Active faults of a device as "point:fault". */
  active(device: string): string[];
  /** Spikes seen since start, per device. */
  spikes(device: string): number;
}

interface PointState {
  q: QualityPoint;
  last?: number;
  lastMono: number;
  sameSinceMono: number;
  faults: Set<QualityFault>;
}

const OWNER = 'quality';

export function createQuality(ctx: Ctx, points: QualityPoint[], opts: { tickMs?: number } = {}): Quality {
  const { bus, clock } = ctx;
  const log = ctx.log.child({ mod: OWNER });
  const states = new Map<string, PointState>();
  const spikes = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const emit = (st: PointState, fault: QualityFault | 'spike', state: 'raise' | 'clear' | undefined, data: Record<string, unknown>) => {
    emitEvent(ctx, {
      type: `point.${fault}`,
      device: st.q.device,
      point: st.q.point,
      severity: state === 'clear' ? 'info' : 'warning',
      ...(state ? { state } : {}),
      data,
    });
  };

  const set = (st: PointState, fault: QualityFault, on: boolean, data: Record<string, unknown>) => {
    if (on === st.faults.has(fault)) return;
    if (on) st.faults.add(fault);
    else st.faults.delete(fault);
    log.info({ device: st.q.device, point: st.q.point, fault, on }, on ? 'point quality fault' : 'point quality fault cleared');
    emit(st, fault, on ? 'raise' : 'clear', data);
  };

  const onReading = (r: Reading) => {
    const st = states.get(`${r.device}/${r.point}`);
    if (!st || r.quality === 'bad') return;
    const v = typeof r.value === 'boolean' ? Number(r.value) : r.value;
    if (typeof v !== 'number' || !Number.isFinite(v)) return;
    const { min, max, spike } = st.q.checks;
    const mono = clock.mono();
    set(st, 'stale', false, { silentMs: Math.round(mono - st.lastMono) });
    if (min !== undefined || max !== undefined) {
      set(st, 'out_of_range', (min !== undefined && v < min) || (max !== undefined && v > max), { value: v, min, max });
    }
    if (spike !== undefined && st.last !== undefined && Math.abs(v - st.last) > spike) {
      spikes.set(r.device, (spikes.get(r.device) ?? 0) + 1);
      emit(st, 'spike', undefined, { value: v, previous: st.last, limit: spike });
    }
    if (st.last === undefined || v !== st.last) {
      st.sameSinceMono = mono;
      set(st, 'flatline', false, { value: v });
    }
    st.last = v;
    st.lastMono = mono;
  };

  const tick = () => {
    const mono = clock.mono();
    for (const st of states.values()) {
      const { flatline, stale } = st.q.checks;
      if (stale !== undefined && mono - st.lastMono >= stale) set(st, 'stale', true, { silentMs: Math.round(mono - st.lastMono), limitMs: stale });
      if (flatline !== undefined && st.last !== undefined && mono - st.sameSinceMono >= flatline) {
        set(st, 'flatline', true, { value: st.last, forMs: Math.round(mono - st.sameSinceMono), limitMs: flatline });
      }
    }
  };

  return {
    start() {
      const now = clock.mono();
      for (const q of points) states.set(`${q.device}/${q.point}`, { q, lastMono: now, sameSinceMono: now, faults: new Set() });
      if (states.size === 0) return;
      bus.on('reading', OWNER, onReading);
      timer = setInterval(tick, opts.tickMs ?? 1000);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      bus.off(OWNER);
    },
    active(device) {
      const out: string[] = [];
      for (const st of states.values()) if (st.q.device === device) for (const f of st.faults) out.push(`${st.q.point}:${f}`);
      return out;
    },
    spikes: (device) => spikes.get(device) ?? 0,
  };
}
