// Live reconfiguration: what changed between two configs and what each change needs. The agent
// (agent.ts `reconfigure`) applies the plan: rules and summary policies swap in place, the uplink
// restarts with its new settings (the outbox stays), each service gets its own say
// (`Service.reconfigure`, e.g. the devices service restarts only the devices that changed), and
// what cannot change under a running agent (outbox, HTTP server, gateway id, state directory,
// clock, log level) is reported as `needsRestart` and takes effect at the next start.
import type { WaysideConfig } from './config/index.ts';
import type { ThresholdRule } from './rules.ts';

/** Sections (or fields) that are only read at start. */
export const RESTART_ONLY = ['version', 'gateway.id', 'gateway.stateDir', 'log', 'http', 'clock', 'outbox', 'defaults.maxPointsPerDevice'] as const;

export interface ConfigPlan {
  /** Top-level sections that differ (`gateway`, `uplink`, `devices`, product sections...). */
  changed: Set<string>;
  /** Restart-only parts that differ (see RESTART_ONLY). */
  needsRestart: string[];
  /** The uplink must be restarted (its section, or the site it announces, changed). */
  uplink: boolean;
  /** Rules to swap in (undefined: unchanged). */
  rules?: ThresholdRule[];
  /** The publish policy function must be rebuilt (devices or defaults changed). */
  policy: boolean;
  /** ...and it answers differently for a device in both configs: re-check open summary windows. */
  policyChanged: boolean;
}

export function planReconfigure(prev: WaysideConfig, next: WaysideConfig): ConfigPlan {
  const changed = new Set<string>();
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  const p = prev as unknown as Record<string, unknown>;
  const n = next as unknown as Record<string, unknown>;
  for (const k of keys) if (!same(p[k], n[k])) changed.add(k);

  const needsRestart = RESTART_ONLY.filter((path) => !same(at(prev, path), at(next, path)));
  const both = new Set(prev.devices.filter((d) => next.devices.some((x) => x.id === d.id)).map((d) => d.id));
  const policyOf = (c: WaysideConfig) => ({
    defaults: [c.defaults.publish, c.defaults.window],
    devices: c.devices.filter((d) => both.has(d.id)).map((d) => [d.id, d.publish, d.window, Object.entries(d.perPoint).map(([k, o]) => [k, o.publish, o.window])]),
  });
  return {
    changed,
    needsRestart,
    uplink: changed.has('uplink') || !same(prev.gateway.site, next.gateway.site),
    rules: changed.has('rules') ? thresholdRules(next) : undefined,
    policy: changed.has('devices') || changed.has('defaults'),
    policyChanged: !same(policyOf(prev), policyOf(next)),
  };
}

/** The config's rules as the rules engine takes them. */
export function thresholdRules(config: WaysideConfig): ThresholdRule[] {
  return config.rules.map((r) => {
    const i = r.point.indexOf('/');
    return { id: r.id, device: r.point.slice(0, i), point: r.point.slice(i + 1), above: r.above, below: r.below, hysteresis: r.hysteresis, forMs: r.for, severity: r.severity, event: r.event };
  });
}

/** Devices (enabled ones, by id) added, removed or changed in any field between two configs. */
export function deviceChanges(prev: WaysideConfig['devices'], next: WaysideConfig['devices']): { added: string[]; removed: string[]; changed: string[]; unchanged: string[] } {
  const a = new Map(prev.filter((d) => d.enabled).map((d) => [d.id, d]));
  const b = new Map(next.filter((d) => d.enabled).map((d) => [d.id, d]));
  const out = { added: [] as string[], removed: [] as string[], changed: [] as string[], unchanged: [] as string[] };
  for (const [id, d] of b) {
    const old = a.get(id);
    if (!old) out.added.push(id);
    else (same(old, d) ? out.unchanged : out.changed).push(id);
  }
  for (const id of a.keys()) if (!b.has(id)) out.removed.push(id);
  return out;
}

/** Deep equality of plain config values (key order does not matter). */
export function same(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as object).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))) : x,
  ) ?? 'undefined';
}

function at(config: WaysideConfig, path: string): unknown {
  let v: unknown = config;
  for (const k of path.split('.')) v = v === null || typeof v !== 'object' ? undefined : (v as Record<string, unknown>)[k];
  return v;
}
