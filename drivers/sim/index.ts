// `sim`: a simulated smart pole (air quality, weather, street noise, a dimmable lamp) for
// the demo, tests and load tests. Deterministic for a seed and a given sequence of clock
// readings. `lamp_level` is writable: the command path for "dim the lamp to 40 %"; a write
// overrides the dimming schedule until the schedule's next step (dawn, dusk, midnight).
import { z } from 'zod';
import { defineDriver, type DeviceBase } from '../../runtime/drivers.ts';
import type { Ctx, DeviceHealth, Driver, Reading } from '../../runtime/types.ts';
import { duration } from '../../runtime/config/units.ts';
import { SIM_POINTS, UNITS, createPrng, initialState, lampSegment, sample, scheduledLampLevel, type SimPoint } from './model.ts';

export const simSchema = z.object({
  // Parsed to ms by the shared config helper ("10ms".."1h", or a number of seconds).
  interval: duration('10ms', '1h').prefault('1s').describe('time between readings, like "500ms", "1s", "5m"; a bare number is seconds'),
  points: z.array(z.enum(SIM_POINTS)).min(1).default([...SIM_POINTS]).describe('Points to simulate (default all)'),
  seed: z.number().int().default(42).describe('PRNG seed: same seed, same data'),
  burst: z.number().int().min(1).max(10_000).default(1).describe('Readings per point per tick (load testing)'),
  utcOffset: z.number().int().min(-14 * 60).max(14 * 60).optional()
    .describe('Minutes east of UTC for the day/night model (default: the gateway timezone)'),
});

export type SimConfig = DeviceBase & z.infer<typeof simSchema>;

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
  const log = ctx.log.child({ mod: 'sim', device: cfg.id });
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

export const simDriver = defineDriver({
  name: 'sim',
  description: 'Simulated smart pole: pm25, temperature, humidity, noise_db, lamp_level (writable), lamp_power',
  schema: simSchema,
  create: (device, ctx) => createSimDriver(device, ctx),
});
