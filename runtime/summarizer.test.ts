import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBus } from './bus.ts';
import { createManualClock, type ManualClock } from '../test/helpers/clock.ts';
import { silentLog } from './log.ts';
import { createSummarizer, type PointPolicy } from './summarizer.ts';
import type { Ctx, Quality, Reading, Summary } from './types.ts';
import { clockIds } from './ids.ts';

const T0 = Date.UTC(2026, 5, 1, 12, 0, 10, 500); // 12:00:10.5

function setup(opts: { trusted?: boolean; policy?: (d: string, p: string) => PointPolicy } = {}) {
  const log = silentLog();
  const clock = createManualClock({ wall: T0, trusted: opts.trusted ?? true, boot: 'b1' });
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const out: Summary[] = [];
  bus.on('summary', 'test', (s) => out.push(s));
  const s = createSummarizer(ctx, { policy: opts.policy ?? (() => ({ mode: 'summaries', windowMs: 60_000 })) });
  const read = (value: Reading['value'], point = 'p', quality: Quality = 'good') =>
    bus.emit('reading', { device: 'd', point, value, unit: 'V', quality, ts: clock.now(), ...(clock.flag() ? { clock: clock.flag() } : {}) });
  return { clock, bus, out, s, read };
}

/** Let time pass: the manual clock and the tick timer move together. */
function run(clock: ManualClock, ms: number, step = 50) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    vi.advanceTimersByTime(step);
  }
}

beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] }); });
afterEach(() => { vi.useRealTimers(); });

describe('summarizer', () => {
  it('aligns a 60 s window to the wall minute and computes the stats', () => {
    const { clock, out, s, read } = setup();
    s.start();
    read(10); run(clock, 1000);
    read(20, 'p', 'uncertain'); run(clock, 1000);
    read(999, 'p', 'bad'); run(clock, 1000);
    read(true); run(clock, 1000);
    read('text'); // strings are not summarized
    run(clock, 45_000);
    expect(out).toEqual([]);
    run(clock, 5_000); // crosses 12:01:00
    expect(out).toHaveLength(1);
    const w = out[0];
    expect(w.start).toBe(Date.UTC(2026, 5, 1, 12, 0, 0));
    expect(w.end).toBe(Date.UTC(2026, 5, 1, 12, 1, 0));
    // bad counts in count/bad but not in min/max/mean; true counts as 1.
    expect(w).toMatchObject({ device: 'd', point: 'p', unit: 'V', count: 4, bad: 2, min: 1, max: 20, last: 1 });
    expect(w.mean).toBeCloseTo(31 / 3);
    expect(w.clock).toBeUndefined();
    expect(w.partial).toBeUndefined();
  });

  it('closes due windows on the timer, follows on with the next window, and emits nothing for empty ones', () => {
    const { clock, out, s, read } = setup({ policy: () => ({ mode: 'both', windowMs: 10_000 }) });
    s.start();
    read(1);
    run(clock, 9_500 + 300); // 12:00:20.3, no new reading needed
    expect(out.map((w) => [w.start, w.end, w.count])).toEqual([[Date.UTC(2026, 5, 1, 12, 0, 10), Date.UTC(2026, 5, 1, 12, 0, 20), 1]]);
    expect(s.open()).toBe(1); // the following window is open
    read(2);
    run(clock, 10_000);
    expect(out[1]).toMatchObject({ start: Date.UTC(2026, 5, 1, 12, 0, 20), end: Date.UTC(2026, 5, 1, 12, 0, 30), count: 1 });
    run(clock, 30_000); // empty windows: no summaries, state dropped
    expect(out).toHaveLength(2);
    expect(s.open()).toBe(0);
  });

  it('ignores raw points', () => {
    const { clock, out, s, read } = setup({ policy: (_d, p) => ({ mode: p === 'raw' ? 'raw' : 'summaries', windowMs: 5000 }) });
    s.start();
    read(1, 'raw'); read(2, 'sum');
    expect(s.open()).toBe(1);
    run(clock, 10_000);
    expect(out.map((w) => w.point)).toEqual(['sum']);
  });

  it('times windows on the monotonic clock across a wall-clock step, flags them, realigns once trusted', () => {
    const { clock, out, s, read } = setup({ trusted: false, policy: () => ({ mode: 'summaries', windowMs: 10_000 }) });
    s.start();
    read(1);
    const start = clock.now();
    run(clock, 3_000);
    clock.step(3_600_000); // NTP sync: wall jumps an hour
    clock.setTrusted(true);
    read(2);
    run(clock, 6_900);
    expect(out).toHaveLength(0); // the step neither closed nor stretched the window
    run(clock, 200);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ start, end: start + 10_000, count: 2, clock: { state: 'untrusted', boot: 'b1' } });
    // The next window is in the trusted time base and ends on a 10 s boundary.
    read(3);
    run(clock, 20_000);
    expect(out).toHaveLength(2);
    expect(out[1].clock).toBeUndefined();
    expect(out[1].end % 10_000).toBe(0);
    expect(out[1].start).toBeGreaterThan(start + 3_600_000);
  });

  it('stop() flushes open windows as partial and stops listening', () => {
    const { clock, out, s, read } = setup();
    s.start();
    read(5);
    run(clock, 2_000);
    read(7, 'q');
    s.stop();
    expect(out.map((w) => [w.point, w.partial, w.end - w.start])).toEqual([
      ['p', true, 12_500],
      ['q', true, 12_500],
    ]);
    expect(s.open()).toBe(0);
    read(1);
    run(clock, 120_000);
    expect(out).toHaveLength(2);
  });

  it('clamps window lengths to 1 s .. 1 h', () => {
    const { clock, out, s, read } = setup({ policy: () => ({ mode: 'summaries', windowMs: 10 }) });
    s.start();
    read(1);
    run(clock, 600);
    expect(out).toHaveLength(1); // the 1 s window aligned to :11.000
    expect(out[0].end - out[0].start).toBe(1000);
  });

  it('handles thousands of points cheaply', () => {
    const { clock, out, s, bus } = setup({ policy: () => ({ mode: 'summaries', windowMs: 1000 }) });
    s.start();
    const t = performance.now();
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5000; i++) bus.emit('reading', { device: `d${i % 50}`, point: `p${i}`, value: i, quality: 'good', ts: clock.now() });
      run(clock, 1000, 250);
    }
    expect(performance.now() - t).toBeLessThan(2000);
    expect(out.length).toBe(50_000);
    s.stop();
  });

  it('stamps a partial window with a whole-ms end even when the monotonic clock is fractional', () => {
    const { clock, out, s, read } = setup();
    s.start();
    read(5);
    clock.advance(1234.567);
    s.stop();
    expect(out).toHaveLength(1);
    expect(Number.isInteger(out[0].end)).toBe(true);
    expect(Number.isInteger(out[0].start)).toBe(true);
  });

  it('forgets a point after a whole window without readings, and keeps none for raw points', () => {
    const policy = (_d: string, p: string): PointPolicy => ({ mode: p.startsWith('raw') ? 'raw' : 'summaries', windowMs: 1000 });
    const { clock, out, s, bus } = setup({ policy });
    s.start();
    // A flow inventing a new point name per message: each one is seen once.
    for (let i = 0; i < 500; i++) bus.emit('reading', { device: 'd', point: `made-up-${i}`, value: i, quality: 'good', ts: clock.now() });
    for (let i = 0; i < 500; i++) bus.emit('reading', { device: 'd', point: `raw-${i}`, value: i, quality: 'good', ts: clock.now() });
    expect(s.tracked()).toBe(500);
    run(clock, 1000); // their windows close with data
    expect(out).toHaveLength(500);
    expect(s.tracked()).toBe(500);
    run(clock, 1000); // a whole window without a reading: gone
    expect(s.tracked()).toBe(0);
    // A forgotten point that comes back is summarized as before.
    bus.emit('reading', { device: 'd', point: 'made-up-7', value: 3, quality: 'good', ts: clock.now() });
    run(clock, 1000);
    expect(out.at(-1)).toMatchObject({ point: 'made-up-7', count: 1, last: 3 });
    s.stop();
  });

  it('keeps one state per point when a late tick lets an empty window close on a reading', () => {
    const { clock, out, s, read } = setup({ policy: () => ({ mode: 'summaries', windowMs: 1000 }) });
    s.start();
    read(1);
    clock.advance(2600); // no tick ran: the first window (with data) and an empty one are over
    read(2);
    expect(s.tracked()).toBe(1);
    read(3);
    run(clock, 1000);
    expect(out.map((w) => [w.count, w.last])).toEqual([[1, 1], [2, 3]]);
    s.stop();
  });
});
