// `wayside in`: readings, events and summaries from the agent's bus into a flow.
// reading -> payload = value, topic = "device/point", msg.reading = the reading
// event   -> payload = the event, topic = event type, msg.event = the event
// summary -> payload = the summary, topic = "device/point", msg.summary = the summary
import type { Reading, Summary, WaysideEvent } from '../../../runtime/types.ts';
import { filterMismatch, wildcard } from './match.ts';
import { bridgeOf, statusThrottle, type RedApi, type RedNode } from './red.ts';

interface InConfig {
  name?: string;
  readings?: boolean;
  events?: boolean;
  summaries?: boolean;
  device?: string;
  point?: string;
  eventType?: string;
  /** Default true: skip what `wayside out` nodes emitted, so a flow cannot feed itself by accident. */
  ignoreFlows?: boolean;
}

export default function register(RED: RedApi): void {
  RED.nodes.registerType<InConfig>('wayside in', function WaysideIn(this: RedNode, config: InConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = bridgeOf(RED);
    const owner = `flows:${node.id}`;
    const device = wildcard(config.device);
    const point = wildcard(config.point);
    const hasPoint = (config.point ?? '').trim() !== '' && config.point !== '*';
    const hasDevice = (config.device ?? '').trim() !== '' && config.device !== '*';
    const eventType = wildcard(config.eventType);
    const ignoreFlows = config.ignoreFlows !== false;
    const status = statusThrottle(node, bridge.clock);
    let sent = 0;

    const deliver = (msg: Record<string, unknown>) => {
      sent++;
      bridge.stats.msgsIn++;
      node.send(msg);
      status({ fill: 'green', shape: 'dot', text: `${sent} msgs` });
    };

    // Copies: flows may change what they get, the recorder may not have serialized it yet.
    if (config.readings !== false) {
      bridge.bus.on('reading', owner, (r: Reading) => {
        if ((ignoreFlows && bridge.fromFlows.has(r)) || !device(r.device) || !point(r.point)) return;
        const reading = { ...r, ...(r.clock ? { clock: { ...r.clock } } : {}) };
        deliver({ payload: r.value, topic: `${r.device}/${r.point}`, reading });
      });
    }
    if (config.events === true) {
      bridge.bus.on('event', owner, (e: WaysideEvent) => {
        if (ignoreFlows && bridge.fromFlows.has(e)) return;
        if (!eventType(e.type)) return;
        if (hasDevice && !device(e.device)) return;
        if (hasPoint && !point(e.point)) return;
        const event = structuredClone(e);
        deliver({ payload: event, topic: e.type, event });
      });
    }
    if (config.summaries === true) {
      bridge.bus.on('summary', owner, (s: Summary) => {
        if (!device(s.device) || !point(s.point)) return;
        const summary = { ...s, ...(s.clock ? { clock: { ...s.clock } } : {}) };
        deliver({ payload: summary, topic: `${s.device}/${s.point}`, summary });
      });
    }
    // A filter that matches nothing configured is most likely a typo: say so (it still listens,
    // for devices a flow emits itself or ones configured later).
    const mismatch = config.readings !== false || config.summaries === true || hasDevice || hasPoint ? filterMismatch(bridge.devices(), config.device, config.point) : undefined;
    if (config.readings === false && config.events !== true && config.summaries !== true) {
      node.status({ fill: 'red', shape: 'ring', text: 'takes nothing: tick readings, events or summaries' });
      node.warn('takes nothing: none of readings, events, summaries is ticked, so this node never sends');
    } else if (mismatch) {
      node.status({ fill: 'yellow', shape: 'ring', text: `${mismatch} (listening)` });
      node.warn(`${mismatch}; configured devices: ${bridge.devices().map((d) => d.id).join(', ') || 'none'}`);
    } else {
      node.status({ fill: 'grey', shape: 'ring', text: 'listening' });
    }
    node.on('close', (_removed, done) => {
      bridge.bus.off(owner);
      done();
    });
  });
}
