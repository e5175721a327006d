// What goes up for each point: summaries, raw readings or both, and the window length.
// Resolved from the config once per point and cached (the recorder asks per reading).
import type { WaysideConfig } from './config/index.ts';
import type { PointPolicy } from './summarizer.ts';

export function createPolicy(config: WaysideConfig): (device: string, point: string) => PointPolicy {
  const devices = new Map(config.devices.map((d) => [d.id, d]));
  const cache = new Map<string, PointPolicy>();
  return (device, point) => {
    const key = `${device}/${point}`;
    let p = cache.get(key);
    if (!p) {
      const d = devices.get(device);
      const over = d?.perPoint?.[point];
      p = {
        mode: over?.publish ?? d?.publish ?? config.defaults.publish,
        windowMs: over?.window ?? d?.window ?? config.defaults.window,
      };
      cache.set(key, p);
    }
    return p;
  };
}
