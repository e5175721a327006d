// What goes up for each point: summaries, raw readings or both, and the window length.
// Resolved from the config once per device and per configured point: nothing is cached per
// point a reading names, so made-up point names (a flow) cannot grow memory here.
import type { WaysideConfig } from './config/index.ts';
import type { PointPolicy } from './summarizer.ts';

export function createPolicy(config: WaysideConfig): (device: string, point: string) => PointPolicy {
  const fallback: PointPolicy = { mode: config.defaults.publish, windowMs: config.defaults.window };
  const devices = new Map(
    config.devices.map((d) => {
      const base: PointPolicy = { mode: d.publish ?? fallback.mode, windowMs: d.window ?? fallback.windowMs };
      const perPoint = new Map(
        Object.entries(d.perPoint ?? {}).map(([point, o]) => [point, { mode: o.publish ?? base.mode, windowMs: o.window ?? base.windowMs }]),
      );
      return [d.id, { base, perPoint }];
    }),
  );
  return (device, point) => {
    const d = devices.get(device);
    return d ? (d.perPoint.get(point) ?? d.base) : fallback;
  };
}
