// `wayside write`: writes a device point (a Modbus register, a lamp's dim level) through the
// agent, the same path as the platform's `write` command. Success: the msg goes on with
// msg.write = { device, point, value, ok: true, ms }. Failure: an error a catch node can handle,
// with msg.write.ok = false and msg.write.code (unknown_device, not_writable, write_failed, ...).
import { checkDevice, checkPoint, checkValue, pick, positiveSetting } from './match.ts';
import { bridgeOf, errorText, statusThrottle, type RedApi, type RedNode } from './red.ts';

/**
 * The reason of a failed write without the device and point it names: the devices service and
 * the drivers each put `device "x" point "y": ` in front (`sim device "pole" point "level": ...`),
 * and the node's message names them once itself. An unknown device lists the configured ones.
 */
export function writeReason(device: string, point: string, message: string, opts: { code?: unknown; configured?: string[] } = {}): string {
  const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const d = `"${q(device)}"`;
  const p = `"${q(point)}"`;
  const prefix = new RegExp(`^(?:[\\w-]+ )?(?:device ${d}(?:,? point ${p})?|point ${p})\\s*:\\s*`);
  let reason = message.trim();
  for (let i = 0; i < 5 && prefix.test(reason); i++) reason = reason.replace(prefix, '');
  reason = reason
    .replace(new RegExp(`^unknown device ${d}`), 'unknown device')
    .replace(new RegExp(`^(?:[\\w-]+ )?device ${d}\\s+`), 'device ')
    .replace(new RegExp(`^point ${p}\\s+`), 'point ');
  if (!reason) reason = 'no reason given';
  if (opts.code === 'unknown_device' && opts.configured) reason += ` (configured: ${opts.configured.join(', ') || 'none'})`;
  return reason;
}

/** The node's error: `write 5 to pole/temperature failed: not writable (writable: lamp_level)`. */
export function writeErrorText(device: string, point: string, value: unknown, reason: string): string {
  return `write ${JSON.stringify(value)} to ${device}/${point} failed: ${reason}`;
}

interface WriteConfig {
  name?: string;
  device?: string;
  point?: string;
  /** Seconds; empty = the agent's default. */
  timeout?: number | string;
}

export default function register(RED: RedApi): void {
  RED.nodes.registerType<WriteConfig>('wayside write', function WaysideWrite(this: RedNode, config: WriteConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = bridgeOf(RED);
    const timeoutMs = positiveSetting(config.timeout, bridge.limits.writeTimeoutMs / 1000, 'Timeout (node config)', (t) => node.warn(t)) * 1000;
    const status = statusThrottle(node, bridge.clock);
    let inFlight = 0;
    let ok = 0;
    let failed = 0;

    node.on('input', (msg, send, done) => {
      let device: string, point: string, value: number | boolean | string;
      try {
        device = checkDevice(config.device ? 'device (node config)' : 'msg.device', pick(config.device, msg.device));
        point = checkPoint(config.point ? 'point (node config)' : 'msg.point', pick(config.point, msg.point));
        value = checkValue('msg.payload', msg.payload);
      } catch (err) {
        return done(err as Error);
      }
      if (inFlight >= bridge.limits.writeInFlight) {
        bridge.stats.dropped++;
        msg.write = { device, point, value, ok: false, code: 'busy' };
        return done(new Error(`${device}/${point}: ${inFlight} writes already in flight, write dropped`));
      }
      inFlight++;
      const t0 = bridge.clock.mono();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'timeout' })), timeoutMs);
      });
      Promise.race([bridge.write(device, point, value), timeout])
        .then(() => {
          ok++;
          bridge.stats.writes++;
          msg.write = { device, point, value, ok: true, ms: Math.round(bridge.clock.mono() - t0) };
          status({ fill: 'green', shape: 'dot', text: `${device}/${point} = ${String(value)}` });
          send(msg);
          done();
        })
        .catch((err: unknown) => {
          failed++;
          bridge.stats.writeErrors++;
          const code = (err as { code?: unknown }).code;
          const reason = writeReason(device, point, errorText(err), { code, configured: bridge.devices().map((d) => d.id) });
          msg.write = { device, point, value, ok: false, code: typeof code === 'string' ? code : 'write_failed', error: reason };
          status({ fill: 'red', shape: 'ring', text: `${failed} failed, ${ok} ok` });
          done(new Error(writeErrorText(device, point, value, reason)));
        })
        .finally(() => {
          clearTimeout(timer);
          inFlight--;
        });
    });
  });
}
