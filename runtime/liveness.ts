// Device liveness: a device that sends no reading for offlineAfterMs (monotonic) raises
// `device.offline`; its next reading clears it. A device that never reports at all goes
// offline offlineAfterMs after start, so a dead-on-arrival sensor is noticed too.
import { emitEvent } from './events.ts';
import type { Ctx, Reading } from './types.ts';
import type { DeviceOfflineData } from './uplink/protocol.ts';

export interface LivenessDevice { id: string; offlineAfterMs: number }

export interface Liveness {
  start(): void;
  stop(): void;
  /** Wall ms of the device's last reading (as received), undefined if none yet. */
  lastSeen(device: string): number | undefined;
  offline(): string[];
}

const OWNER = 'liveness';
export const OFFLINE_EVENT = 'device.offline';

interface DeviceState {
  id: string;
  offlineAfterMs: number;
  lastMono: number;
  lastWall?: number;
  offline: boolean;
  offlineSinceMono: number;
}

export function createLiveness(ctx: Ctx, devices: LivenessDevice[], opts: { tickMs?: number } = {}): Liveness {
  const { bus, clock } = ctx;
  const log = ctx.log.child({ mod: OWNER });
  const states = new Map<string, DeviceState>();
  for (const d of devices) {
    if (!(d.offlineAfterMs > 0)) throw new Error(`liveness: device "${d.id}": offlineAfterMs must be > 0`);
    states.set(d.id, { id: d.id, offlineAfterMs: d.offlineAfterMs, lastMono: 0, offline: false, offlineSinceMono: 0 });
  }
  // Check often enough that the shortest timeout is not overshot by much.
  const shortest = Math.min(...devices.map((d) => d.offlineAfterMs));
  const tickMs = opts.tickMs ?? Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
  let timer: NodeJS.Timeout | undefined;

  const emit = (st: DeviceState, state: 'raise' | 'clear', data: DeviceOfflineData): void => {
    emitEvent(ctx, { type: OFFLINE_EVENT, device: st.id, severity: state === 'raise' ? 'warning' : 'info', state, data });
  };

  const onReading = (r: Reading): void => {
    const st = states.get(r.device);
    if (!st) return;
    const mono = clock.mono();
    const silentMs = Math.round(mono - st.lastMono);
    st.lastMono = mono;
    st.lastWall = clock.now();
    if (!st.offline) return;
    st.offline = false;
    const offlineMs = Math.round(mono - st.offlineSinceMono);
    log.info({ device: st.id, offlineMs, silentMs }, 'device back online');
    emit(st, 'clear', { offlineMs, silentMs });
  };

  const tick = (): void => {
    const mono = clock.mono();
    for (const st of states.values()) {
      if (st.offline || mono - st.lastMono < st.offlineAfterMs) continue;
      st.offline = true;
      st.offlineSinceMono = mono;
      const silentMs = Math.round(mono - st.lastMono);
      log.warn({ device: st.id, silentMs }, 'device offline');
      emit(st, 'raise', { silentMs, offlineAfterMs: st.offlineAfterMs, lastSeen: st.lastWall ?? null });
    }
  };

  return {
    start() {
      if (timer) return;
      const mono = clock.mono();
      for (const st of states.values()) st.lastMono = mono; // grace period starts now
      bus.on('reading', OWNER, onReading);
      if (states.size > 0) {
        timer = setInterval(tick, tickMs);
        timer.unref();
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      bus.off(OWNER);
    },
    lastSeen: (device) => states.get(device)?.lastWall,
    offline: () => [...states.values()].filter((s) => s.offline).map((s) => s.id),
  };
}
