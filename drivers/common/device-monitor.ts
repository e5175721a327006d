// The per-device health loop every field driver shares: a state machine driven by the outcome
// of each exchange with the device, the backoff that follows from it, and the events the
// platform sees.
//
//   starting --ok--> online --fail--> degraded --fail x offlineAfter--> offline --ok--> online
//                                                      (device.fault raise)        (device.fault clear,
//                                                                                    data.recovered = true)
import { emitEvent } from '../../runtime/events.ts';
import type { Ctx, DeviceHealth, DeviceState, Reading } from '../../runtime/types.ts';
import type { DeviceFaultClear, DeviceFaultRaise } from '../../runtime/uplink/protocol.ts';

/** What went wrong in one exchange; counted separately in health and /metrics. */
export type FaultKind = 'timeout' | 'crc' | 'exception' | 'io' | 'protocol' | 'config';

export interface MonitorOptions {
  /** Consecutive failures that make an online device offline (default 3). */
  offlineAfter?: number;
  /** Longest wait between attempts while the device keeps failing (default 60 s). */
  maxBackoffMs?: number;
}

export interface DeviceMonitor {
  /** A successful exchange. */
  ok(): void;
  /** A failed exchange; never throws. */
  fail(kind: FaultKind, err: unknown): void;
  /** Emit a reading on the bus and count it. */
  reading(r: Omit<Reading, 'device' | 'ts' | 'clock' | 'quality'> & Partial<Pick<Reading, 'quality' | 'ts'>>): void;
  state(): DeviceState;
  /** Delay before the next attempt: the poll interval while healthy, exponential backoff while failing. */
  nextDelay(intervalMs: number): number;
  /** The device (re)starts: back to `starting`, so a restart after stop() reports state again. */
  started(): void;
  stopped(): void;
  health(): DeviceHealth & { errorsByKind: Partial<Record<FaultKind, number>>; consecutiveFailures: number };
}

export function createDeviceMonitor(ctx: Ctx, info: { device: string; driver: string }, opts: MonitorOptions = {}): DeviceMonitor {
  const offlineAfter = opts.offlineAfter ?? 3;
  const maxBackoff = opts.maxBackoffMs ?? 60_000;
  let state: DeviceState = 'starting';
  let consecutive = 0;
  let errors = 0;
  let readings = 0;
  let lastReadingTs: number | undefined;
  let lastError: string | undefined;
  let offlineSince: number | undefined;
  const byKind: Partial<Record<FaultKind, number>> = {};

  const event = (state: 'raise' | 'clear', data: Omit<DeviceFaultRaise, 'driver'> | Omit<DeviceFaultClear, 'driver'>) =>
    emitEvent(ctx, {
      type: 'device.fault',
      device: info.device,
      severity: state === 'raise' ? 'warning' : 'info',
      state,
      data: { driver: info.driver, ...data },
    });

  return {
    ok() {
      if (state === 'offline') {
        event('clear', { recovered: true, offlineMs: offlineSince === undefined ? undefined : ctx.clock.mono() - offlineSince, failures: consecutive });
        ctx.log.info({ failures: consecutive }, 'device recovered');
      }
      consecutive = 0;
      offlineSince = undefined;
      if (state !== 'stopped') state = 'online';
    },
    fail(kind, err) {
      errors++;
      consecutive++;
      byKind[kind] = (byKind[kind] ?? 0) + 1;
      lastError = `${kind}: ${err instanceof Error ? err.message : String(err)}`;
      if (state === 'stopped') return;
      if (state !== 'offline' && consecutive >= offlineAfter) {
        state = 'offline';
        offlineSince = ctx.clock.mono();
        event('raise', { kind, error: lastError, failures: consecutive });
        ctx.log.warn({ kind, err: lastError, failures: consecutive }, 'device offline');
      } else if (state !== 'offline') {
        state = 'degraded';
        ctx.log.debug({ kind, err: lastError }, 'device exchange failed');
      }
    },
    reading(r) {
      readings++;
      lastReadingTs = r.ts ?? ctx.clock.now();
      ctx.bus.emit('reading', { ...r, device: info.device, quality: r.quality ?? 'good', ts: lastReadingTs, clock: ctx.clock.flag() } as Reading);
    },
    state: () => state,
    nextDelay(intervalMs) {
      if (consecutive < offlineAfter) return intervalMs;
      const exp = Math.min(maxBackoff, intervalMs * 2 ** Math.min(consecutive - offlineAfter + 1, 16));
      return Math.max(intervalMs, Math.round(exp * (0.8 + Math.random() * 0.4)));
    },
    started() {
      state = 'starting';
      consecutive = 0;
      offlineSince = undefined;
    },
    stopped() {
      state = 'stopped';
    },
    health: () => ({
      device: info.device,
      driver: info.driver,
      state,
      lastReadingTs,
      errors,
      readings,
      lastError,
      errorsByKind: { ...byKind },
      consecutiveFailures: consecutive,
    }),
  };
}
