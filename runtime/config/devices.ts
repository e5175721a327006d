// Checks of the device list that need the drivers: each family's checkAll, the composition
// root's cross-family checks, and perPoint entries for points a device does not have.
import type { DeviceIssue, DriverRegistry } from '../drivers.ts';
import { didYouMean } from './fields.ts';
import type { DeviceConfig } from './schema.ts';

interface Problem {
  path: (string | number)[];
  message: string;
}

/**
 * A check over every device of the file, whatever its driver (e.g. two families sharing one
 * serial port with different settings). `index` is the device's place in `devices`; issue
 * paths are relative to that device.
 */
export type DevicesCheck = (devices: { index: number; device: DeviceConfig }[]) => (DeviceIssue & { index: number })[];

/**
 * Runs each family's cross-device check and the cross-family checks; returns the points each
 * device is known to have (absent: the driver cannot tell, any point name goes).
 */
export function checkDevices(devices: DeviceConfig[], registry: DriverRegistry, checks: DevicesCheck[], problems: Problem[]): Map<string, string[]> {
  const known = new Map<string, string[]>();
  const report = (issues: (DeviceIssue & { index: number })[]) => {
    for (const i of issues) problems.push({ path: ['devices', i.index, ...i.path], message: i.message });
  };
  const guarded = (what: string, at: (string | number)[], fn: () => void) => {
    try {
      fn();
    } catch (err) {
      // A bug in a check must not hide the file's other problems behind a stack trace.
      problems.push({ path: at, message: `${what} failed: ${(err as Error).message ?? String(err)}` });
    }
  };
  for (const def of registry.list()) {
    const family = devices.flatMap((device, index) => (device.driver === def.name ? [{ index, device }] : []));
    if (family.length === 0) continue;
    if (def.checkAll) guarded(`driver "${def.name}" device check`, ['devices'], () => report(def.checkAll!(family as never)));
    if (def.points) {
      for (const { index, device } of family) {
        guarded(`driver "${def.name}" point list`, ['devices', index], () => {
          const pts = def.points!(device as never);
          if (pts) known.set(device.id, pts.map((p) => p.name));
        });
      }
    }
  }
  const all = devices.map((device, index) => ({ index, device }));
  for (const check of checks) guarded('device check', ['devices'], () => report(check(all)));

  devices.forEach((d, i) => {
    const names = known.get(d.id);
    if (!names) return;
    for (const point of Object.keys(d.perPoint)) {
      if (!names.includes(point)) problems.push({ path: ['devices', i, 'perPoint', point], message: unknownPoint(point, d.id, names) });
    }
  });
  return known;
}

export function unknownPoint(point: string, device: string, names: string[]): string {
  const list = names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ') || 'none';
  return `unknown point "${point}" of device "${device}"${didYouMean(point, names)} (points: ${list})`;
}
