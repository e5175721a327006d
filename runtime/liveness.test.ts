import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBus } from './bus.ts';
import { createManualClock, type ManualClock } from '../test/helpers/clock.ts';
import { createLiveness } from './liveness.ts';
import { silentLog } from './log.ts';
import type { Ctx, WaysideEvent } from './types.ts';
import { clockIds } from './ids.ts';

function setup() {
  const log = silentLog();
  const clock = createManualClock();
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const events: WaysideEvent[] = [];
  bus.on('event', 'test', (e) => events.push(e));
  const l = createLiveness(ctx, [{ id: 'meter', offlineAfterMs: 10_000 }, { id: 'pm', offlineAfterMs: 60_000 }]);
  const read = (device: string) => bus.emit('reading', { device, point: 'v', value: 1, quality: 'good', ts: clock.now() });
  return { clock, events, l, read };
}

function run(clock: ManualClock, ms: number, step = 100) {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    vi.advanceTimersByTime(step);
  }
}

beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }); });
afterEach(() => { vi.useRealTimers(); });

describe('liveness', () => {
  it('raises device.offline after silence and clears on the next reading', () => {
    const { clock, events, l, read } = setup();
    l.start();
    read('meter'); read('pm');
    const seen = clock.now();
    expect(l.lastSeen('meter')).toBe(seen);
    run(clock, 9_000);
    expect(events).toEqual([]);
    run(clock, 3_000);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'device.offline', device: 'meter', severity: 'warning', state: 'raise', data: { lastSeen: seen, offlineAfterMs: 10_000 } });
    expect(events[0].data.silentMs).toBeGreaterThanOrEqual(10_000);
    expect(l.offline()).toEqual(['meter']);
    run(clock, 20_000); // no repeated raises
    expect(events).toHaveLength(1);
    read('meter');
    expect(events[1]).toMatchObject({ type: 'device.offline', device: 'meter', state: 'clear', severity: 'info' });
    expect(events[1].data.offlineMs).toBeGreaterThanOrEqual(20_000);
    expect(events[1].data.silentMs).toBeGreaterThanOrEqual(30_000);
    expect(l.offline()).toEqual([]);
    l.stop();
  });

  it('notices a device that never reports, ignores unknown devices, lastSeen undefined before any reading', () => {
    const { clock, events, l, read } = setup();
    l.start();
    expect(l.lastSeen('pm')).toBeUndefined();
    for (let i = 0; i < 7; i++) { read('meter'); read('stranger'); run(clock, 9_000); }
    expect(events.map((e) => [e.device, e.state, e.data.lastSeen])).toEqual([['pm', 'raise', null]]);
    l.stop();
    run(clock, 100_000);
    expect(events).toHaveLength(1);
  });
});
