import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBus } from '../../runtime/bus.ts';
import { createManualClock, type ManualClock } from '../../test/helpers/clock.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { silentLog } from '../../runtime/log.ts';
import type { Ctx, Reading } from '../../runtime/types.ts';
import { builtinDrivers } from '../index.ts';
import { createSimDriver, simSchema, type SimConfig } from './index.ts';
import { SIM_POINTS, createPrng, initialState, sample, scheduledLampLevel, type SimPoint } from './model.ts';
import { clockIds } from '../../runtime/ids.ts';

const NOON_UTC = Date.UTC(2026, 5, 1, 12, 0, 0);

function setup(fields: Record<string, unknown> = {}, wall = NOON_UTC) {
  const log = silentLog();
  const clock = createManualClock({ wall });
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const readings: Reading[] = [];
  bus.on('reading', 'test', (r) => readings.push(r));
  const cfg = { id: 'pole-sim', driver: 'sim', ...simSchema.parse({ utcOffset: 0, ...fields }) } as SimConfig;
  return { clock, readings, driver: createSimDriver(cfg, ctx) };
}

function run(clock: ManualClock, ms: number, step = 1000) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    vi.advanceTimersByTime(step);
  }
}

const last = (rs: Reading[], point: string) => rs.filter((r) => r.point === point).at(-1)?.value;

afterEach(() => { vi.useRealTimers(); });

describe('sim config', () => {
  it('defaults every field and parses intervals', () => {
    expect(simSchema.parse({})).toEqual({ interval: 1000, points: [...SIM_POINTS], seed: 42, burst: 1 });
    const ms = (interval: unknown) => simSchema.parse({ interval }).interval;
    expect([ms('10ms'), ms('1.5s'), ms('2m'), ms('1h'), ms(0.25)]).toEqual([10, 1500, 120_000, 3_600_000, 250]);
    for (const bad of ['5ms', '2h', 'soon', 0]) expect(simSchema.safeParse({ interval: bad }).success).toBe(false);
    expect(simSchema.safeParse({ points: ['wind'] }).success).toBe(false);
  });

  it('is a built-in driver', () => {
    const reg = createDriverRegistry(builtinDrivers());
    const def = reg.get('sim')!;
    expect(def.schema.parse({ seed: 1 })).toMatchObject({ seed: 1, burst: 1 });
  });
});

describe('sim device', () => {
  it('is deterministic for a seed', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const a = setup({ seed: 7 });
    const b = setup({ seed: 7 });
    const c = setup({ seed: 8 });
    for (const s of [a, b, c]) { await s.driver.start(); run(s.clock, 60_000); await s.driver.stop(); }
    expect(a.readings).toHaveLength(61 * SIM_POINTS.length);
    expect(b.readings).toEqual(a.readings);
    expect(c.readings.map((r) => r.value)).not.toEqual(a.readings.map((r) => r.value));
    const r = a.readings.find((x) => x.point === 'pm25')!;
    expect(r).toMatchObject({ device: 'pole-sim', unit: 'µg/m³', quality: 'good', ts: NOON_UTC });
    expect(r.clock).toBeUndefined();
  });

  it('follows the lamp schedule: off by day, 100 at dusk, 30 after midnight; power tracks level', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, readings, driver } = setup({ points: ['lamp_level', 'lamp_power'] });
    await driver.start();
    expect([last(readings, 'lamp_level'), last(readings, 'lamp_power')]).toEqual([0, expect.closeTo(0.5, 0)]);
    clock.advance(8 * 3_600_000); // 20:00
    run(clock, 1000);
    expect(last(readings, 'lamp_level')).toBe(100);
    expect(last(readings, 'lamp_power')).toBeCloseTo(120, -1);
    clock.advance(6 * 3_600_000); // 02:00
    run(clock, 1000);
    expect(last(readings, 'lamp_level')).toBe(30);
    expect(last(readings, 'lamp_power')).toBeCloseTo(36, -1);
    await driver.stop();
  });

  it('write lamp_level overrides dimming until the next schedule step and is reported at once', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, readings, driver } = setup({ points: ['lamp_level'] }, Date.UTC(2026, 5, 1, 19, 0, 0));
    await driver.start();
    await driver.write!('lamp_level', 40);
    expect(readings.at(-1)).toMatchObject({ point: 'lamp_level', value: 40 });
    run(clock, 10_000);
    expect(last(readings, 'lamp_level')).toBe(40);
    clock.advance(5 * 3_600_000); // past midnight: the schedule takes over again
    run(clock, 1000);
    expect(last(readings, 'lamp_level')).toBe(30);
    await driver.stop();
  });

  it('rejects bad writes with an error naming device and point', async () => {
    const { driver } = setup();
    await expect(driver.write!('lamp_level', 150)).rejects.toThrow('sim device "pole-sim" point "lamp_level": needs a number 0..100, got 150');
    await expect(driver.write!('lamp_level', '40')).rejects.toThrow(/"pole-sim".*"lamp_level".*got "40"/);
    await expect(driver.write!('lamp_level', NaN)).rejects.toThrow(/0\.\.100/);
    await expect(driver.write!('temperature', 20)).rejects.toThrow('sim device "pole-sim" point "temperature": not writable');
  });

  it('emits burst readings per point per tick and stamps untrusted readings', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { clock, readings, driver } = setup({ points: ['pm25'], burst: 5, interval: '100ms' });
    clock.setTrusted(false);
    await driver.start();
    run(clock, 1000, 100);
    await driver.stop();
    expect(readings).toHaveLength(55);
    expect(readings[0].clock).toEqual({ state: 'untrusted', boot: 'test-boot' });
    expect(driver.health()).toMatchObject({ device: 'pole-sim', driver: 'sim', state: 'stopped', readings: 55, errors: 0 });
  });

  it('starts and stops a real timer', async () => {
    const { readings, driver } = setup({ interval: '10ms', points: ['temperature'] });
    expect(driver.health().state).toBe('starting');
    await driver.start();
    await vi.waitFor(() => expect(readings.length).toBeGreaterThanOrEqual(3), { timeout: 2000, interval: 5 });
    expect(driver.health()).toMatchObject({ state: 'online', lastReadingTs: NOON_UTC });
    await driver.stop();
    const n = readings.length;
    await new Promise((r) => setTimeout(r, 50));
    expect(readings.length).toBe(n);
    expect(driver.health().state).toBe('stopped');
  });
});

describe('sim model', () => {
  it('keeps every point in a plausible range over simulated days, with pm25 spikes', () => {
    const rand = createPrng(42);
    const st = initialState();
    const seen: Record<string, { min: number; max: number }> = {};
    for (let i = 0; i < 24 * 720; i++) { // 3 days at 15 s steps
      const hour = ((i * 15) / 3600) % 24;
      st.level = scheduledLampLevel(hour);
      for (const p of SIM_POINTS) {
        const v = sample(p as SimPoint, hour, rand, st);
        const s = (seen[p] ??= { min: Infinity, max: -Infinity });
        s.min = Math.min(s.min, v);
        s.max = Math.max(s.max, v);
      }
    }
    expect(seen.temperature.min).toBeGreaterThan(5);
    expect(seen.temperature.max).toBeLessThan(30);
    expect(seen.temperature.max - seen.temperature.min).toBeGreaterThan(10); // diurnal swing
    expect(seen.humidity.min).toBeGreaterThanOrEqual(15);
    expect(seen.humidity.max).toBeLessThanOrEqual(100);
    expect(seen.pm25.min).toBeGreaterThan(0);
    expect(seen.pm25.max).toBeGreaterThan(75);
    expect(seen.noise_db.min).toBeGreaterThan(35);
    expect(seen.noise_db.max).toBeLessThan(100);
    expect([seen.lamp_level.min, seen.lamp_level.max]).toEqual([0, 100]);
    expect(seen.lamp_power.max).toBeLessThan(130);
  });

  it('makes humidity fall as temperature rises and traffic noise peak at rush hour', () => {
    const avg = (p: SimPoint, hour: number) => {
      const rand = createPrng(1);
      const st = initialState();
      let sum = 0;
      for (let i = 0; i < 200; i++) sum += sample(p, hour, rand, st);
      return sum / 200;
    };
    expect(avg('temperature', 15)).toBeGreaterThan(avg('temperature', 3) + 8);
    expect(avg('humidity', 15)).toBeLessThan(avg('humidity', 3) - 15);
    expect(avg('noise_db', 8)).toBeGreaterThan(avg('noise_db', 3) + 15);
  });
});

describe('sim read now', () => {
  it('emits every point once at once, outside the interval; refuses while stopped', async () => {
    const { readings, driver } = setup({ interval: '1h', points: ['pm25', 'noise_db'] });
    await expect(driver.readNow!()).rejects.toThrow(/"pole-sim" is not running/);
    await driver.start();
    expect(readings).toHaveLength(2);
    await driver.readNow!();
    expect(readings.map((r) => r.point)).toEqual(['pm25', 'noise_db', 'pm25', 'noise_db']);
    expect(driver.health().readings).toBe(4);
    await driver.stop();
    await expect(driver.readNow!()).rejects.toThrow(/not running/);
  });
});
