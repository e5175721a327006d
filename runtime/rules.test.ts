import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBus } from './bus.ts';
import { createManualClock, type ManualClock } from '../test/helpers/clock.ts';
import { silentLog } from './log.ts';
import { createRules, type ThresholdRule } from './rules.ts';
import type { Ctx, Quality, Reading, WaysideEvent } from './types.ts';
import { clockIds } from './ids.ts';

const hot: ThresholdRule = { id: 'pm-high', device: 'pole', point: 'pm25', above: 75, hysteresis: 5, forMs: 3000, severity: 'warning', event: 'air.pm25_high' };

function setup(rules: ThresholdRule[], trusted = true) {
  const log = silentLog();
  const clock = createManualClock({ trusted, boot: 'b1' });
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const events: WaysideEvent[] = [];
  bus.on('event', 'test', (e) => events.push(e));
  const r = createRules(ctx, rules);
  const read = (value: Reading['value'], quality: Quality = 'good', point = 'pm25') =>
    bus.emit('reading', { device: 'pole', point, value, quality, ts: clock.now() });
  return { clock, events, r, read };
}

function run(clock: ManualClock, ms: number, step = 50) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    vi.advanceTimersByTime(step);
  }
}

/** One reading per second for `secs` seconds. */
function feed(clock: ManualClock, read: (v: number) => void, v: number, secs: number) {
  for (let i = 0; i < secs; i++) { read(v); run(clock, 1000); }
}

beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }); });
afterEach(() => { vi.useRealTimers(); });

describe('threshold rules', () => {
  it('raises only after the condition held for forMs, once, and clears past the hysteresis', () => {
    const { clock, events, r, read } = setup([hot]);
    r.start();
    feed(clock, read, 80, 2);
    read(70); // dip below threshold: debounce restarts
    const since = clock.now();
    feed(clock, read, 80, 2);
    expect(events).toEqual([]);
    feed(clock, read, 90, 3);
    expect(events).toHaveLength(1);
    const ev = events[0];
    expect(ev).toMatchObject({ type: 'air.pm25_high', device: 'pole', point: 'pm25', severity: 'warning', state: 'raise', ts: since + 3000 });
    expect(ev.data).toEqual({ rule: 'pm-high', value: 90, threshold: 75 });
    expect(ev.id).toHaveLength(26);
    expect(r.active()).toEqual(['pm-high']);
    feed(clock, read, 95, 10); // no repeated raises
    feed(clock, read, 72, 10); // inside the hysteresis band: stays raised
    expect(events).toHaveLength(1);
    feed(clock, read, 60, 4);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ state: 'clear', severity: 'info', data: { rule: 'pm-high', value: 60, threshold: 75 } });
    expect(r.active()).toEqual([]);
  });

  it('confirms on the timer when the sensor reports less often than forMs', () => {
    const { clock, events, r, read } = setup([{ ...hot, forMs: 5000 }]);
    r.start();
    read(100);
    run(clock, 4900);
    expect(events).toHaveLength(0);
    run(clock, 300);
    expect(events.map((e) => e.state)).toEqual(['raise']);
  });

  it('handles below-thresholds, forMs 0, and flags events stamped with an untrusted clock', () => {
    const cold: ThresholdRule = { id: 'cold', device: 'pole', point: 'temperature', below: 0, hysteresis: 1, forMs: 0, severity: 'critical', event: 'weather.frost' };
    const { clock, events, r, read } = setup([cold], false);
    r.start();
    read(-0.5, 'good', 'temperature');
    expect(events[0]).toMatchObject({ state: 'raise', severity: 'critical', data: { threshold: 0 }, clock: { state: 'untrusted', boot: 'b1' } });
    read(0.5, 'good', 'temperature'); // not past 0 + 1
    read(1.5, 'good', 'temperature');
    expect(events.map((e) => e.state)).toEqual(['raise', 'clear']);
    run(clock, 1000);
  });

  it('evaluates only good numeric readings of its own point', () => {
    const { clock, events, r, read } = setup([{ ...hot, forMs: 0 }]);
    r.start();
    read(500, 'bad');
    read(500, 'uncertain');
    read('500');
    read(true);
    read(500, 'good', 'noise_db');
    run(clock, 1000);
    expect(events).toEqual([]);
  });

  it('stops listening on stop()', () => {
    const { clock, events, r, read } = setup([{ ...hot, forMs: 0 }]);
    r.start();
    r.stop();
    read(100);
    run(clock, 1000);
    expect(events).toEqual([]);
  });

  it('asserts what the config loader refuses, naming the rule (a caller that skipped the loader fails loudly)', () => {
    const { bus, log, clock } = { bus: createBus(silentLog()), log: silentLog(), clock: createManualClock() };
    const ctx = { bus, log, clock, newId: clockIds(clock) };
    expect(() => createRules(ctx, [{ ...hot, above: undefined }])).toThrow(/pm-high.*above.*below/);
    expect(() => createRules(ctx, [hot, hot])).toThrow(/duplicate/);
    expect(() => createRules(ctx, [{ ...hot, hysteresis: -1 }])).toThrow(/hysteresis/);
    expect(() => createRules(ctx, [{ ...hot, below: 74 }])).toThrow(/below/);
  });
});
