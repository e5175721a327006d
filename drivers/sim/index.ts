// `sim`: a simulated smart pole (air quality, weather, street noise, a dimmable lamp) for
// the demo, tests and load tests. Deterministic for a seed and a given sequence of clock
// readings. `lamp_level` is writable: the command path for "dim the lamp to 40 %"; a write
// overrides the dimming schedule until the schedule's next step (dawn, dusk, midnight).
import type { Ctx, DeviceHealth, Driver, Reading } from '../../runtime/types.ts';
import type { SimConfig } from './schema.ts';
import { SIM_POINTS, UNITS, createPrng, initialState, lampSegment, sample, scheduledLampLevel, type SimPoint } from './model.ts';

export { simSchema, type SimConfig } from './schema.ts';

/** A rejected device write; callers answer the platform's command with this message. */
export class SimWriteError extends Error {
  readonly device: string;
  readonly point: string;
  constructor(device: string, point: string, message: string) {
    super(`sim device "${device}" point "${point}": ${message}`);
    this.name = 'SimWriteError';
    this.device = device;
    this.point = point;
  }
}

export function createSimDriver(cfg: SimConfig, ctx: Ctx): Driver {
  const { bus, clock } = ctx;
  const log = ctx.log; // already carries { mod, device } (runtime/agent.ts)
  const intervalMs = cfg.interval;
  const points = [...new Set(cfg.points)] as SimPoint[];
  const rand = createPrng(cfg.seed);
  const st = initialState();
  let timer: NodeJS.Timeout | undefined;
  let override: { level: number; segment: ReturnType<typeof lampSegment> } | undefined;
  const health: DeviceHealth = { device: cfg.id, driver: 'sim', state: 'starting', errors: 0, readings: 0 };

  const hourAt = (ts: number): number => {
    const offsetMin = cfg.utcOffset ?? -new Date(ts).getTimezoneOffset();
    const minutes = Math.floor((ts + offsetMin * 60_000) / 60_000);
    return (((minutes % 1440) + 1440) % 1440) / 60;
  };

  const updateLamp = (hour: number): void => {
    const segment = lampSegment(hour);
    if (override && override.segment !== segment) {
      log.info({ level: override.level, segment }, 'lamp override ended by schedule');
      override = undefined;
    }
    st.level = override?.level ?? scheduledLampLevel(hour);
  };

  const emit = (point: SimPoint, value: number, ts: number): void => {
    const r: Reading = { device: cfg.id, point, value, unit: UNITS[point], quality: 'good', ts };
    const flag = clock.flag();
    if (flag) r.clock = flag;
    health.readings++;
    health.lastReadingTs = ts;
    bus.emit('reading', r);
  };

  const tick = (): void => {
    try {
      const ts = clock.now();
      const hour = hourAt(ts);
      updateLamp(hour);
      for (let b = 0; b < cfg.burst; b++) {
        for (const p of points) emit(p, sample(p, hour, rand, st), ts);
      }
      health.state = 'online';
    } catch (err) {
      health.errors++;
      health.lastError = String(err);
      health.state = 'degraded';
      log.error({ err }, 'sim tick failed');
    }
  };

  return {
    async start() {
      if (timer) return;
      health.state = 'starting';
      log.info({ intervalMs, points, seed: cfg.seed, burst: cfg.burst }, 'sim device started');
      tick(); // a real driver reads once right away; so does the sim
      timer = setInterval(tick, intervalMs);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      health.state = 'stopped';
    },
    health: () => ({ ...health }),
    async readNow() {
      if (!timer) throw new Error(`sim device "${cfg.id}" is not running`);
      const errors = health.errors;
      tick();
      if (health.errors !== errors) throw new Error(`sim device "${cfg.id}": ${health.lastError}`);
    },
    async write(point, value) {
      if (point !== 'lamp_level') throw new SimWriteError(cfg.id, point, 'not writable (writable: lamp_level)');
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100) {
        throw new SimWriteError(cfg.id, point, `needs a number 0..100, got ${JSON.stringify(value) ?? String(value)}`);
      }
      const ts = clock.now();
      override = { level: value, segment: lampSegment(hourAt(ts)) };
      st.level = value;
      log.info({ point, value }, 'lamp level set');
      // Report the new state at once so the platform sees the command take effect.
      if (timer) emit('lamp_level', value, ts);
    },
  };
}
