// `wayside health`: on any input, msg.payload = the agent's health (the same object as GET /healthz),
// or one device's health when the node (or msg.device) names a device.
import { checkDevice, pick } from './match.ts';
import { bridgeOf, type RedApi, type RedNode } from './red.ts';

interface HealthConfig {
  name?: string;
  device?: string;
}

export default function register(RED: RedApi): void {
  RED.nodes.registerType<HealthConfig>('wayside health', function WaysideHealth(this: RedNode, config: HealthConfig) {
    RED.nodes.createNode(this, config);
    const bridge = bridgeOf(RED);
    this.on('input', (msg, send, done) => {
      try {
        const h = bridge.health();
        const wanted = pick(config.device, msg.device);
        if (wanted === undefined || wanted === '') {
          msg.payload = h;
          msg.topic = 'health';
        } else {
          const id = checkDevice(config.device ? 'device (node config)' : 'msg.device', wanted);
          const d = h.devices.find((x) => x.device === id);
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
