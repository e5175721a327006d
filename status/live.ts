// What the status page shows, kept live: the health document's parts a technician needs
// (identity, versions, uplink, outbox, each device's state, problems), the last value of every
// device point (from the bus), and a ring of recent events. `view()` is the whole picture for
// a new client; `delta()` is what changed since the last call (readings, new events, and the
// head when the health part changed), so a stream can send small updates.
import type { AgentHealth } from '../runtime/health.ts';
import type { Bus, DeviceHealth, Reading, WaysideEvent } from '../runtime/types.ts';

export const EVENTS_KEPT = 30;
const MAX_POINTS = 5000;

/** One point's last value: [value, unit, quality, ts]. */
export type PointValue = [value: Reading['value'], unit: string | null, quality: Reading['quality'], ts: number];

export interface DeviceView {
  id: string;
  driver: string;
  state: DeviceHealth['state'];
  lastReadingTs?: number;
  errors: number;
  lastError?: string;
  quality?: string[];
  /** A camera: the page shows its last frame. */
  camera: boolean;
}

export interface EventView {
  id: string;
  ts: number;
  type: string;
  device?: string;
  point?: string;
  severity: WaysideEvent['severity'];
  state?: 'raise' | 'clear';
  /** A short human line from the event's data (its message or error), when it has one. */
  text?: string;
}

/** The head: everything but point values and events. */
export interface HeadView {
  gateway: string;
  site?: string;
  identity?: { enrolled: boolean; gatewayId?: string; platformKeyFingerprint?: string; method?: string };
  versions: AgentHealth['versions'];
  /** Versions the platform deployed and that are active (deploy service), when any. */
  deployed?: { config: string | null; flows: string | null };
  status: AgentHealth['status'];
  problems: string[];
  uptimeS: number;
  uplink: { enabled: boolean; connected: boolean; since?: number; lastError?: string };
  outbox: { depth: number; oldestAgeMs: number; dropped: number; diskFull: boolean };
  devices: DeviceView[];
}

export interface View {
  head: HeadView;
  points: Record<string, Record<string, PointValue>>;
  events: EventView[];
  ts: number;
}

export interface Delta {
  head?: HeadView;
  /** [device, point, ...PointValue] */
  readings?: [string, string, ...PointValue][];
  events?: EventView[];
  ts: number;
}

export interface Live {
  start(): void;
  stop(): void;
  view(): View;
  /** Changes since the previous delta(); undefined when nothing changed. */
  delta(): Delta | undefined;
}

export function createLive(deps: { bus: Bus; owner: string; health: () => AgentHealth; site?: string; now: () => number }): Live {
  const points = new Map<string, Map<string, PointValue>>();
  let count = 0;
  const events: EventView[] = [];
  let dirty = new Map<string, [string, string, ...PointValue]>();
  let fresh: EventView[] = [];
  let lastHead = '';

  const onReading = (r: Reading) => {
    let dev = points.get(r.device);
    if (!dev) {
      if (count >= MAX_POINTS) return;
      dev = new Map();
      points.set(r.device, dev);
    }
    if (!dev.has(r.point)) {
      if (count >= MAX_POINTS) return;
      count++;
    }
    const v: PointValue = [r.value, r.unit ?? null, r.quality, r.ts];
    dev.set(r.point, v);
    dirty.set(`${r.device}\u0000${r.point}`, [r.device, r.point, ...v]);
  };
  const onEvent = (e: WaysideEvent) => {
    const d = e.data ?? {};
    const text = [d.message, d.error, d.reason].find((x): x is string => typeof x === 'string');
    const ev: EventView = { id: e.id, ts: e.ts, type: e.type, severity: e.severity, ...(e.device && { device: e.device }), ...(e.point && { point: e.point }), ...(e.state && { state: e.state }), ...(text && { text: text.slice(0, 300) }) };
    events.unshift(ev);
    events.length = Math.min(events.length, EVENTS_KEPT);
    fresh.push(ev);
    if (fresh.length > EVENTS_KEPT) fresh = fresh.slice(-EVENTS_KEPT);
  };

  const head = (): HeadView => {
    const h = deps.health();
    const dep = h.deploy as { config?: { active?: string | null }; flows?: { active?: string | null } } | undefined;
    const deployed = dep && (dep.config?.active || dep.flows?.active) ? { config: dep.config?.active ?? null, flows: dep.flows?.active ?? null } : undefined;
    const prov = h.provisioning as { enrolled?: boolean; gatewayId?: string; platformKeyFingerprint?: string; method?: string } | undefined;
    const devices = (Array.isArray(h.devices) ? h.devices : []).map((d: DeviceHealth & { camera?: unknown }) => ({
      id: d.device,
      driver: d.driver,
      state: d.state,
      ...(d.lastReadingTs !== undefined && { lastReadingTs: d.lastReadingTs }),
      errors: d.errors,
      ...(d.lastError !== undefined && { lastError: String(d.lastError).slice(0, 300) }),
      ...(d.quality?.length && { quality: d.quality }),
      camera: d.camera !== undefined,
    }));
    return {
      gateway: h.gateway,
      ...(deps.site !== undefined && { site: deps.site }),
      ...(prov && { identity: { enrolled: !!prov.enrolled, gatewayId: prov.gatewayId, platformKeyFingerprint: prov.platformKeyFingerprint, method: prov.method } }),
      versions: h.versions,
      ...(deployed && { deployed }),
      status: h.status,
      problems: h.problems,
      uptimeS: h.uptimeS,
      uplink: { enabled: h.uplink.enabled, connected: h.uplink.connected, ...(h.uplink.since !== undefined && { since: h.uplink.since }), ...(h.uplink.lastError !== undefined && { lastError: String(h.uplink.lastError) }) },
      outbox: { depth: h.outbox.depth, oldestAgeMs: h.outbox.oldestAgeMs, dropped: h.outbox.dropped, diskFull: h.outbox.diskFull },
      devices,
    };
  };
  // The uptime and the last reading times move all the time (the readings themselves carry
  // theirs); they alone are no reason to send the head again.
  const headKey = (v: HeadView) => JSON.stringify({ ...v, uptimeS: 0, devices: v.devices.map(({ lastReadingTs: _, ...d }) => d) });

  return {
    start() {
      deps.bus.on('reading', deps.owner, onReading);
      deps.bus.on('event', deps.owner, onEvent);
    },
    stop() {
      deps.bus.off(deps.owner);
    },
    view() {
      // Pending changes stay pending: other streams still get them (a new client merges them twice, harmlessly).
      const v = head();
      const pts: View['points'] = {};
      for (const [d, m] of points) pts[d] = Object.fromEntries(m);
      return { head: v, points: pts, events: [...events], ts: deps.now() };
    },
    delta() {
      const v = head();
      const key = headKey(v);
      const out: Delta = { ts: deps.now() };
      if (key !== lastHead) {
        out.head = v;
        lastHead = key;
      }
      if (dirty.size) out.readings = [...dirty.values()];
      if (fresh.length) out.events = fresh;
      dirty = new Map();
      fresh = [];
      return out.head || out.readings || out.events ? out : undefined;
    },
  };
}
