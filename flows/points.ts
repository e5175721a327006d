// The distinct points a device may have, for readings that come from flows: a flow can make up
// any point name, and every new name costs memory downstream (summarizer windows, rule and
// platform state). A device keeps the points it was configured or reported with, plus new ones
// up to `max`; beyond that a reading of a new point is refused, counted per device and logged
// at most once a minute per device.
import type { Log } from '../runtime/types.ts';

/** Devices a flow may name that are not configured (virtual devices), beyond which it is refused. */
export const MAX_FLOW_DEVICES = 64;
const LOG_EVERY_MS = 60_000;

export interface PointCap {
  /** True when `device` may carry `point` (known, or a new one within the cap); false counts a refusal. */
  admit(device: string, point: string): boolean;
  /** Refusals per device since start (`*` for devices beyond MAX_FLOW_DEVICES). */
  refused(): Record<string, number>;
  readonly max: number;
}

export function createPointCap(opts: {
  max: number;
  devices: { id: string; points?: string[] }[];
  log: Log;
  mono: () => number;
}): PointCap {
  const { max, log } = opts;
  const configured = new Set(opts.devices.map((d) => d.id));
  const seen = new Map<string, Set<string>>(opts.devices.map((d) => [d.id, new Set(d.points ?? [])]));
  const refused = new Map<string, number>();
  const lastLog = new Map<string, number>();

  const refuse = (key: string, device: string, point: string, why: string): false => {
    refused.set(key, (refused.get(key) ?? 0) + 1);
    const now = opts.mono();
    if (now - (lastLog.get(key) ?? -Infinity) >= LOG_EVERY_MS) {
      lastLog.set(key, now);
      log.warn({ device, point, refused: refused.get(key) }, `reading from a flow refused: ${why}`);
    }
    return false;
  };

  return {
    max,
    admit(device, point) {
      let points = seen.get(device);
      if (!points) {
        if (seen.size - configured.size >= MAX_FLOW_DEVICES) return refuse('*', device, point, `flows already named ${MAX_FLOW_DEVICES} devices that are not configured`);
        seen.set(device, (points = new Set()));
      }
      if (points.has(point)) return true;
      if (points.size >= max) return refuse(device, device, point, `device already has ${max} distinct points (defaults.maxPointsPerDevice)`);
      points.add(point);
      return true;
    },
    refused: () => Object.fromEntries(refused),
  };
}
