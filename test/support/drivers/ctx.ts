// Test context for driver tests: the real bus, a real-time clock, a silent logger and a
// recorder of what the driver emitted.
import { createBus } from '../../../runtime/bus.ts';
import { clockIds } from '../../../runtime/ids.ts';
import { silentLog } from '../../../runtime/log.ts';
import type { Clock, Ctx, Reading, WaysideEvent } from '../../../runtime/types.ts';

export interface Recorded {
  ctx: Ctx;
  readings: Reading[];
  events: WaysideEvent[];
  /** Last value of device/point. */
  last(device: string, point: string): Reading | undefined;
  values(device: string): Record<string, Reading['value']>;
}

export const realClock: Clock = { now: () => Date.now(), mono: () => performance.now(), trusted: () => true, flag: () => undefined };

export function recordingCtx(): Recorded {
  const log = silentLog();
  const bus = createBus(log);
  const readings: Reading[] = [];
  const events: WaysideEvent[] = [];
  bus.on('reading', 'test', (r) => readings.push(r));
  bus.on('event', 'test', (e) => events.push(e));
  const last = (device: string, point: string) => readings.findLast((r) => r.device === device && r.point === point);
  return {
    ctx: { bus, log, clock: realClock, newId: clockIds(realClock) },
    readings,
    events,
    last,
    values(device) {
      const out: Record<string, Reading['value']> = {};
      for (const r of readings) if (r.device === device) out[r.point] = r.value;
      return out;
    },
  };
}

