import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBus } from './bus.ts';
import { createManualClock } from '../test/helpers/clock.ts';
import { silentLog } from './log.ts';
import { createQuality } from './quality.ts';
import type { Ctx, WaysideEvent } from './types.ts';
import { clockIds } from './ids.ts';

function setup() {
  const log = silentLog();
  const clock = createManualClock();
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const events: WaysideEvent[] = [];
  bus.on('event', 'test', (e) => events.push(e));
  const q = createQuality(ctx, [
    { device: 'pm', point: 'pm25', checks: { min: 0, max: 1000, spike: 200, flatline: 60_000, stale: 30_000 } },
  ]);
  const read = (value: number, quality: 'good' | 'bad' = 'good') => bus.emit('reading', { device: 'pm', point: 'pm25', value, quality, ts: clock.now() });
  const advance = (ms: number) => {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(500);
      vi.advanceTimersByTime(500);
    }
  };
  const types = () => events.map((e) => `${e.type}${e.state ? ':' + e.state : ''}`);
  return { q, read, advance, types, events };
}

beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }); });
afterEach(() => { vi.useRealTimers(); });

describe('quality checks', () => {
  it('raises and clears out-of-range once, and counts spikes as one-shot events', () => {
    const { q, read, types, events } = setup();
    q.start();
    read(20);
    read(-5);
    read(-6);
    expect(types()).toEqual(['point.out_of_range:raise']);
    expect(events[0].data).toMatchObject({ value: -5, min: 0, max: 1000 });
    expect(q.active('pm')).toEqual(['pm25:out_of_range']);
    read(30);
    read(400); // +370 > spike 200
    expect(types()).toEqual(['point.out_of_range:raise', 'point.out_of_range:clear', 'point.spike']);
    expect(q.spikes('pm')).toBe(1);
    expect(q.active('pm')).toEqual([]);
    q.stop();
  });

  it('raises flatline when the value does not change and stale when readings stop', () => {
    const { q, read, advance, types } = setup();
    q.start();
    for (let i = 0; i < 70; i++) {
      read(12);
      advance(1000);
    }
    expect(types()).toEqual(['point.flatline:raise']);
    read(13);
    expect(types()).toEqual(['point.flatline:raise', 'point.flatline:clear']);
    advance(31_000);
    expect(types()).toContain('point.stale:raise');
    expect(q.active('pm')).toEqual(['pm25:stale']);
    read(14);
    expect(types().at(-1)).toBe('point.stale:clear');
    q.stop();
  });

  it('ignores bad-quality and non-numeric readings', () => {
    const { q, read, types } = setup();
    q.start();
    read(-100, 'bad');
    expect(types()).toEqual([]);
    q.stop();
  });
});
