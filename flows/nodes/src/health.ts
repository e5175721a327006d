// `wayside health`: on any input, msg.payload = the agent's health (the same object as GET /healthz),
// or one device's health when the node (or msg.device) names a device. The node's status shows
// the state of what it watches (the agent, or its configured device), every 10 s and on input.
import type { AgentHealth } from '../../../runtime/health.ts';
import { checkDevice, pick } from './match.ts';
import { bridgeOf, errorText, type NodeStatus, type RedApi, type RedNode } from './red.ts';

interface HealthConfig {
  name?: string;
  device?: string;
}

export const HEALTH_STATUS_EVERY_MS = 10_000;

/** The status for the agent's health, or for one device's (`device` set). */
export function healthStatus(h: AgentHealth, device?: string): NodeStatus {
  if (!device) {
    if (h.status === 'ok') return { fill: 'green', shape: 'dot', text: 'agent ok' };
    const n = h.problems.length;
    return { fill: 'yellow', shape: 'ring', text: `agent degraded: ${h.problems[0] ?? 'no reason given'}${n > 1 ? ` (+${n - 1} more)` : ''}`.slice(0, 80) };
  }
  const d = h.devices.find((x) => x.device === device);
  if (!d) return { fill: 'red', shape: 'ring', text: `unknown device "${device}"` };
  const fill: NodeStatus['fill'] = d.state === 'online' ? 'green' : d.state === 'degraded' || d.state === 'starting' ? 'yellow' : 'red';
  return { fill, shape: fill === 'green' ? 'dot' : 'ring', text: `${device} ${d.state}${d.lastError && fill !== 'green' ? `: ${d.lastError}` : ''}`.slice(0, 80) };
}

export default function register(RED: RedApi): void {
  RED.nodes.registerType<HealthConfig>('wayside health', function WaysideHealth(this: RedNode, config: HealthConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = bridgeOf(RED);
    const watched = (config.device ?? '').trim();
    let last = '';
    const show = (h: AgentHealth, device: string) => {
      const s = healthStatus(h, device);
      const key = JSON.stringify(s);
      if (key !== last) node.status(s);
      last = key;
    };
    const refresh = () => {
      try {
        show(bridge.health(), watched);
      } catch (err) {
        node.status({ fill: 'red', shape: 'ring', text: `health unavailable: ${errorText(err)}`.slice(0, 80) });
      }
    };
    // After the flows started (a constructor runs while they start).
    const first = setTimeout(refresh, 0);
    const timer = setInterval(refresh, HEALTH_STATUS_EVERY_MS);
    timer.unref?.();
    node.on('close', (_removed, done) => {
      clearTimeout(first);
      clearInterval(timer);
      done();
    });
    this.on('input', (msg, send, done) => {
      try {
        const h = bridge.health();
        const wanted = pick(config.device, msg.device);
        if (wanted === undefined || wanted === '') {
          msg.payload = h;
          msg.topic = 'health';
          show(h, '');
        } else {
          const id = checkDevice(config.device ? 'device (node config)' : 'msg.device', wanted);
          const d = h.devices.find((x) => x.device === id);
          show(h, id);
          if (!d) throw new Error(`unknown device "${id}" (devices: ${h.devices.map((x) => x.device).join(', ') || 'none'})`);
          msg.payload = d;
          msg.topic = `health/${id}`;
        }
        send(msg);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  });
}
