// `wayside infer`: object detection on an image in a flow. msg.payload is a JPEG or PNG Buffer;
// out comes msg.payload = [{ label, score, box: { x, y, w, h } }] (box normalized to the image,
// 0..1, top-left corner and size) and msg.infer = { model, ms, count }. The model is a name
// from `wayside models list` (node config, else msg.model); the threshold applies to every
// class (msg.thresholds, per class, overrides it). Failures are errors a catch node can handle.
// Inference is CPU-heavy on a pole: at most `inferInFlight` images per node run at once, more
// are dropped (counted in the flows health) rather than queued.
import { MODEL_NAME_RE } from '../../../models/registry.ts';
import { bridgeOf, errorText, statusThrottle, type RedApi, type RedNode } from './red.ts';

interface InferConfig {
  name?: string;
  model?: string;
  /** 0..1; empty = the model's default (0.5 or the thresholds of msg.thresholds). */
  threshold?: number | string;
}

export default function register(RED: RedApi): void {
  RED.nodes.registerType<InferConfig>('wayside infer', function WaysideInfer(this: RedNode, config: InferConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const bridge = bridgeOf(RED);
    const status = statusThrottle(node, bridge.clock);
    const threshold = config.threshold === '' || config.threshold === undefined ? undefined : Number(config.threshold);
    const configError =
      threshold !== undefined && !(threshold >= 0 && threshold <= 1) ? `threshold (node config): expected a number 0..1, got ${JSON.stringify(config.threshold)}` : undefined;
    let inFlight = 0;
    if (!bridge.infer) node.status({ fill: 'red', shape: 'ring', text: 'models service not running' });
    else if (configError) node.status({ fill: 'red', shape: 'ring', text: configError });
    else node.status({ fill: 'grey', shape: 'ring', text: config.model || 'msg.model' });

    node.on('input', (msg, send, done) => {
      const infer = bridge.infer;
      if (!infer) return done(new Error('models service not running: wayside infer needs the agent\'s models service'));
      if (configError) return done(new Error(configError));
      const model = config.model || msg.model;
      if (typeof model !== 'string' || !MODEL_NAME_RE.test(model)) {
        return done(new Error(`${config.model ? 'model (node config)' : 'msg.model'}: expected a model name (see "wayside models list"), got ${JSON.stringify(model) ?? 'nothing'}`));
      }
      const image = msg.payload;
      if (!Buffer.isBuffer(image) || image.length === 0) {
        const got = image === undefined ? 'nothing' : Buffer.isBuffer(image) ? 'an empty Buffer' : typeof image === 'string' ? 'a string' : typeof image;
        return done(new Error(`msg.payload: expected a Buffer with a JPEG or PNG image, got ${got}`));
      }
      const thresholds: Record<string, number> = threshold !== undefined ? { default: threshold } : {};
      if (msg.thresholds !== undefined) {
        const t = msg.thresholds;
        if (typeof t !== 'object' || t === null || Array.isArray(t) || Object.values(t).some((v) => typeof v !== 'number' || !(v >= 0 && v <= 1))) {
          return done(new Error(`msg.thresholds: expected { label: 0..1, default?: 0..1 }, got ${JSON.stringify(t)}`));
        }
        Object.assign(thresholds, t);
      }
      if (inFlight >= bridge.limits.inferInFlight) {
        bridge.stats.dropped++;
        return done(new Error(`${model}: ${inFlight} images already in inference, image dropped`));
      }
      inFlight++;
      const t0 = bridge.clock.mono();
      infer(image, model, { thresholds })
        .then((dets) => {
          const ms = Math.round(bridge.clock.mono() - t0);
          msg.payload = dets.map((d) => ({ label: d.label, score: d.score, box: d.box }));
          msg.infer = { model, ms, count: dets.length };
          status({ fill: 'green', shape: 'dot', text: `${model}: ${dets.length} found, ${ms} ms` });
          send(msg);
          done();
        })
        .catch((err: unknown) => {
          status({ fill: 'red', shape: 'ring', text: `${model}: ${errorText(err)}`.slice(0, 80) });
          done(new Error(`infer ${model}: ${errorText(err)}`));
        })
        .finally(() => inFlight--);
    });
  });
}
