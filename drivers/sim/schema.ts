// Device fields of the `sim` driver, apart from the model so the config loader needs no more.
import { z } from 'zod';
import type { DeviceBase } from '../../runtime/drivers.ts';
import { duration } from '../../runtime/config/units.ts';
import { SIM_POINTS } from './model.ts';

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

export const SIM_DESCRIPTION = 'Simulated smart pole: pm25, temperature, humidity, noise_db, lamp_level (writable), lamp_power';
