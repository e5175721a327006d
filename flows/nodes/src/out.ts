// `wayside out`: a reading or an event from a flow onto the agent's bus, so it is summarized,
// checked by the rules, stored in the outbox and forwarded like a driver's. Rate-limited per
// node (token bucket): a flow that floods is cut off here, its drops counted in health.
import type { Reading, WaysideEvent } from '../../../runtime/types.ts';
import { isAgentEventType } from '../../../runtime/uplink/protocol.ts';
import { bad, checkDevice, checkPoint, checkValue, EVENT_TYPE_RE, pick, positiveSetting, QUALITIES, SEVERITIES } from './match.ts';
import { bridgeOf, statusThrottle, type Msg, type RedApi, type RedNode, type WaysideBridge } from './red.ts';

interface OutConfig {
  name?: string;
  /** 'auto' (msg.event -> event, else reading), 'reading' or 'event'. */
  kind?: 'auto' | 'reading' | 'event';
  device?: string;
  point?: string;
  unit?: string;
  eventType?: string;
  severity?: string;
  /** Max messages per second (burst of the same size); empty = the agent's default. */
  rate?: number | string;
  /** msg.ts may be at most this many seconds from now (either way); empty = the agent's default (1 day). */
  tsWindow?: number | string;
}

const DROP_WARN_EVERY_MS = 10_000;

export default function register(RED: RedApi): void {
  RED.nodes.registerType<OutConfig>('wayside out', function WaysideOut(this: RedNode, config: OutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = bridgeOf(RED);
    const rate = positiveSetting(config.rate, bridge.limits.outRatePerS, 'Max msgs/s (node config)', (t) => node.warn(t));
    const tsWindowMs = positiveSetting(config.tsWindow, bridge.limits.tsWindowS, 'msg.ts window (node config)', (t) => node.warn(t)) * 1000;
    const status = statusThrottle(node, bridge.clock);
    let tokens = rate;
    let refilled = bridge.clock.mono();
    let sent = 0;
    let dropped = 0;
    let droppedSinceWarn = 0;
    let lastWarn = -Infinity;

    const allow = (): boolean => {
      const now = bridge.clock.mono();
      tokens = Math.min(rate, tokens + ((now - refilled) / 1000) * rate);
      refilled = now;
      if (tokens >= 1) {
        tokens -= 1;
        return true;
      }
      dropped++;
      droppedSinceWarn++;
      bridge.stats.dropped++;
      if (now - lastWarn >= DROP_WARN_EVERY_MS) {
        // A warning, not an error: an error would trigger catch nodes and feed the flood.
        node.warn(`flood protection: dropped ${droppedSinceWarn} messages (limit ${rate}/s)`);
        droppedSinceWarn = 0;
        lastWarn = now;
      }
      status({ fill: 'red', shape: 'ring', text: `${sent} sent, ${dropped} dropped (>${rate}/s)` });
      return false;
    };

    node.on('input', (msg, _send, done) => {
      try {
        if (!allow()) return done();
        const asEvent = config.kind === 'event' || (config.kind !== 'reading' && msg.event !== undefined);
        if (asEvent) {
          const e = toEvent(msg, config, bridge, tsWindowMs);
          bridge.fromFlows.add(e);
          bridge.bus.emit('event', e);
        } else {
          const r = toReading(msg, config, bridge, tsWindowMs);
          if (!bridge.points.admit(r.device, r.point)) {
            throw new Error(`point "${r.point}" refused: device "${r.device}" already has ${bridge.points.max} distinct points (defaults.maxPointsPerDevice), or flows named too many devices`);
          }
          bridge.fromFlows.add(r);
          bridge.bus.emit('reading', r);
        }
        sent++;
        bridge.stats.msgsOut++;
        if (dropped === 0) status({ fill: 'green', shape: 'dot', text: `${sent} sent` });
        done();
      } catch (err) {
        if (err instanceof TsRefused) {
          bridge.stats.tsRefused++;
          status({ fill: 'red', shape: 'ring', text: `msg.ts refused (${bridge.stats.tsRefused})` });
        }
        done(err as Error);
      }
    });
  });
}

class TsRefused extends Error {}

/**
 * msg.ts, when given, must be whole-ish ms within `windowMs` of the agent clock: a value in
 * seconds or microseconds (a common flow mistake) is refused, not stored with a wild time.
 */
function toTs(msg: Msg, bridge: WaysideBridge, windowMs: number): number {
  const now = bridge.clock.now();
  if (msg.ts === undefined) return now;
  if (typeof msg.ts !== 'number' || !Number.isFinite(msg.ts) || msg.ts < 0) throw bad('msg.ts', 'ms since epoch', msg.ts);
  if (Math.abs(msg.ts - now) > windowMs) {
    const e = bad('msg.ts', `ms since epoch within ${windowMs / 1000} s of the agent clock (${new Date(now).toISOString()})`, msg.ts);
    throw new TsRefused(e.message);
  }
  return Math.round(msg.ts);
}

function toReading(msg: Msg, config: OutConfig, bridge: WaysideBridge, tsWindowMs: number): Reading {
  let device = pick(config.device, msg.device);
  let point = pick(config.point, msg.point);
  // "device/point" in msg.topic, the same shape `wayside in` produces.
  if ((device === undefined || point === undefined) && typeof msg.topic === 'string' && msg.topic.includes('/')) {
    const i = msg.topic.indexOf('/');
    device ??= msg.topic.slice(0, i);
    point ??= msg.topic.slice(i + 1);
  }
  const r: Reading = {
    device: checkDevice(config.device ? 'device (node config)' : 'msg.device', device),
    point: checkPoint(config.point ? 'point (node config)' : 'msg.point', point),
    value: checkValue('msg.payload', msg.payload),
    quality: 'good',
    ts: toTs(msg, bridge, tsWindowMs),
  };
  const unit = pick(config.unit, msg.unit);
  if (unit !== undefined) {
    if (typeof unit !== 'string' || unit.length > 32) throw bad('msg.unit', 'a unit string of at most 32 characters', unit);
    r.unit = unit;
  }
  if (msg.quality !== undefined) {
    if (!QUALITIES.includes(msg.quality as never)) throw bad('msg.quality', QUALITIES.join(' | '), msg.quality);
    r.quality = msg.quality as Reading['quality'];
  }
  const flag = bridge.clock.flag();
  if (flag) r.clock = flag;
  return r;
}

function toEvent(msg: Msg, config: OutConfig, bridge: WaysideBridge, tsWindowMs: number): WaysideEvent {
  const src = msg.event === undefined ? {} : msg.event;
  if (typeof src !== 'object' || src === null || Array.isArray(src)) throw bad('msg.event', 'an object { type, severity, device?, point?, state?, data? }', src);
  const m = src as Record<string, unknown>;
  const type = pick(config.eventType, m.type);
  if (typeof type !== 'string' || !EVENT_TYPE_RE.test(type)) throw bad(config.eventType ? 'event type (node config)' : 'msg.event.type', 'an event type like "air.pm25_high"', type);
  // The agent's own types (device.fault, outbox.disk_full, ...) mean something exact to the platform.
  if (isAgentEventType(type)) throw bad(config.eventType ? 'event type (node config)' : 'msg.event.type', 'a type outside the agent\'s own namespaces (device., point., outbox., uplink., agent.)', type);
  const severity = pick(config.severity, m.severity) ?? 'info';
  if (!SEVERITIES.includes(severity as never)) throw bad('msg.event.severity', SEVERITIES.join(' | '), severity);
  const ts = toTs(msg, bridge, tsWindowMs);
  const e: WaysideEvent = { id: bridge.newId(), type, severity: severity as WaysideEvent['severity'], ts, data: {} };
  const device = pick(config.device, m.device);
  if (device !== undefined) e.device = checkDevice('msg.event.device', device);
  const point = pick(config.point, m.point);
  if (point !== undefined) e.point = checkPoint('msg.event.point', point);
  if (m.state !== undefined) {
    if (m.state !== 'raise' && m.state !== 'clear') throw bad('msg.event.state', '"raise" | "clear"', m.state);
    e.state = m.state;
  }
  // Data: msg.event.data, else (node-configured event) the payload.
  const data = m.data !== undefined ? m.data : msg.event === undefined ? msg.payload : undefined;
  if (data !== undefined) {
    if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
      e.data = jsonSafe(data as Record<string, unknown>);
    } else {
      e.data = { value: jsonSafe({ v: data }).v };
    }
  }
  const flag = bridge.clock.flag();
  if (flag) e.clock = flag;
  return e;
}

/** Events go to the outbox as JSON: refuse what JSON cannot carry instead of storing "{}". */
function jsonSafe(o: Record<string, unknown>): Record<string, unknown> {
  let json: string;
  try {
    json = JSON.stringify(o);
  } catch (err) {
    throw new Error(`msg.event.data: not serializable to JSON (${(err as Error).message})`);
  }
  if (json.length > 64 * 1024) throw new Error(`msg.event.data: ${json.length} bytes of JSON, at most 65536`);
  return JSON.parse(json) as Record<string, unknown>;
}
