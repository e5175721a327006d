// Threshold rules: readings -> raise/clear events, with debounce (forMs on the monotonic
// clock) and hysteresis so a value hovering at the threshold does not flap.
// A pending change is confirmed either by a reading or by the tick once forMs has passed
// since the condition started holding (slow sensors report less often than forMs).
import assert from 'node:assert/strict';
import { emitEvent } from './events.ts';
import type { Ctx, Reading, Severity } from './types.ts';

export interface ThresholdRule {
  id: string;
  device: string;
  point: string;
  above?: number;
  below?: number;
  hysteresis: number;
  forMs: number;
  severity: Severity;
  event: string;
}

export interface Rules {
  start(): void;
  stop(): void;
  /** Ids of the rules currently raised. */
  active(): string[];
  /**
   * Swaps in a new rule set without missing a reading (live reconfiguration). A rule kept with
   * the same id, device, point and event keeps its raised state (a changed threshold is applied
   * from the next reading; a pending debounce starts over); a removed rule that was raised is
   * cleared (the platform sees the pair closed, `data.removed: true`); new rules start unraised.
   */
  replace(rules: ThresholdRule[]): { kept: string[]; added: string[]; removed: string[]; changed: string[] };
}

const OWNER = 'rules';

interface RuleState {
  rule: ThresholdRule;
  raised: boolean;
  /** Mono time the condition for the opposite state started holding; undefined when not pending. */
  pendingSince?: number;
  lastValue: number;
  /** Threshold crossed by the last value while raising (kept for the clear event). */
  threshold: number;
}

export function createRules(ctx: Ctx, rules: ThresholdRule[], opts: { tickMs?: number } = {}): Rules {
  const { bus, clock } = ctx;
  const log = ctx.log.child({ mod: OWNER });
  let byPoint = new Map<string, Map<string, RuleState[]>>();
  const pending = new Set<RuleState>();
  let timer: NodeJS.Timeout | undefined;
  let count = rules.length;

  const index = (list: ThresholdRule[], keep: (r: ThresholdRule) => RuleState | undefined): Map<string, Map<string, RuleState[]>> => {
    const ids = new Set<string>();
    const out = new Map<string, Map<string, RuleState[]>>();
    for (const rule of list) {
      validate(rule, ids);
      let points = out.get(rule.device);
      if (!points) out.set(rule.device, (points = new Map()));
      const states = points.get(rule.point) ?? [];
      states.push(keep(rule) ?? { rule, raised: false, lastValue: NaN, threshold: NaN });
      points.set(rule.point, states);
    }
    return out;
  };
  byPoint = index(rules, () => undefined);
  const allStates = (): RuleState[] => [...byPoint.values()].flatMap((points) => [...points.values()].flat());

  const crossed = (r: ThresholdRule, v: number): number | undefined => {
    if (r.above !== undefined && v > r.above) return r.above;
    if (r.below !== undefined && v < r.below) return r.below;
    return undefined;
  };
  // Back inside the band by at least the hysteresis on every side the rule watches.
  const cleared = (r: ThresholdRule, v: number): boolean =>
    (r.above === undefined || v < r.above - r.hysteresis) && (r.below === undefined || v > r.below + r.hysteresis);

  const fire = (st: RuleState): void => {
    const r = st.rule;
    st.raised = !st.raised;
    st.pendingSince = undefined;
    pending.delete(st);
    const state = st.raised ? 'raise' : 'clear';
    log.info({ rule: r.id, device: r.device, point: r.point, state, value: st.lastValue }, 'rule fired');
    emitEvent(ctx, {
      type: r.event,
      device: r.device,
      point: r.point,
      severity: st.raised ? r.severity : 'info',
      state,
      data: { rule: r.id, value: st.lastValue, threshold: st.threshold },
    });
  };

  const evaluate = (st: RuleState, v: number, mono: number): void => {
    st.lastValue = v;
    let wantsChange: boolean;
    if (st.raised) {
      wantsChange = cleared(st.rule, v);
    } else {
      const t = crossed(st.rule, v);
      wantsChange = t !== undefined;
      if (t !== undefined) st.threshold = t;
    }
    if (!wantsChange) {
      // Continuity broken: the debounce starts over.
      st.pendingSince = undefined;
      pending.delete(st);
      return;
    }
    if (st.pendingSince === undefined) {
      st.pendingSince = mono;
      pending.add(st);
    }
    if (mono - st.pendingSince >= st.rule.forMs) fire(st);
  };

  const onReading = (r: Reading): void => {
    if (r.quality !== 'good' || typeof r.value !== 'number' || !Number.isFinite(r.value)) return;
    const list = byPoint.get(r.device)?.get(r.point);
    if (!list) return;
    const mono = clock.mono();
    for (const st of list) evaluate(st, r.value, mono);
  };

  const tick = (): void => {
    if (pending.size === 0) return;
    const mono = clock.mono();
    for (const st of pending) {
      if (st.pendingSince !== undefined && mono - st.pendingSince >= st.rule.forMs) fire(st);
    }
  };

  const replace = (next: ThresholdRule[]): ReturnType<Rules['replace']> => {
    const old = new Map(allStates().map((st) => [st.rule.id, st]));
    const kept: string[] = [];
    const added: string[] = [];
    const changed: string[] = [];
    // Built (and validated) before anything changes: a bad set leaves the running one in place.
    const nextIndex = index(next, (rule) => {
      const st = old.get(rule.id);
      if (!st || st.rule.device !== rule.device || st.rule.point !== rule.point || st.rule.event !== rule.event) {
        added.push(rule.id);
        return undefined;
      }
      old.delete(rule.id);
      const same = JSON.stringify(st.rule) === JSON.stringify(rule);
      (same ? kept : changed).push(rule.id);
      if (same) return st;
      pending.delete(st);
      return { rule, raised: st.raised, lastValue: st.lastValue, threshold: st.threshold };
    });
    // What is left in `old` is gone (or became another rule under its id): close its open alarm.
    const removed: string[] = [];
    for (const st of old.values()) {
      pending.delete(st);
      if (!next.some((r) => r.id === st.rule.id)) removed.push(st.rule.id);
      if (!st.raised) continue;
      const r = st.rule;
      emitEvent(ctx, { type: r.event, device: r.device, point: r.point, severity: 'info', state: 'clear', data: { rule: r.id, value: st.lastValue, threshold: st.threshold, removed: true } });
    }
    byPoint = nextIndex;
    count = next.length;
    log.info({ kept: kept.length, added: added.length, removed: removed.length, changed: changed.length }, 'rules replaced');
    return { kept, added, removed, changed };
  };

  return {
    replace,
    start() {
      if (timer) return;
      bus.on('reading', OWNER, onReading);
      timer = setInterval(tick, opts.tickMs ?? 250);
      timer.unref();
      log.debug({ rules: count }, 'rules started');
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      bus.off(OWNER);
    },
    active: () => allStates().filter((st) => st.raised).map((st) => st.rule.id),
  };
}

// The config loader refuses each of these with file:line (runtime/config/resolve.ts); here they
// are only asserted, so a caller that skipped the loader fails loudly instead of misbehaving.
function validate(r: ThresholdRule, ids: Set<string>): void {
  const where = `rule "${r.id}" (${r.device}/${r.point})`;
  assert(!ids.has(r.id), `${where}: duplicate rule id`);
  ids.add(r.id);
  assert(r.above !== undefined || r.below !== undefined, `${where}: needs "above" or "below"`);
  assert(r.hysteresis >= 0, `${where}: hysteresis must be >= 0`);
  assert(r.forMs >= 0, `${where}: forMs must be >= 0`);
  assert(
    r.above === undefined || r.below === undefined || r.below + r.hysteresis < r.above - r.hysteresis,
    `${where}: below + hysteresis must stay under above - hysteresis`,
  );
}
