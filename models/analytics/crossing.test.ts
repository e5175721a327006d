// Pedestrian-crossing warning: raise/clear pairs, the 1 s grace, the hold between raises, the
// approach zone, close().
import { describe, expect, test } from 'vitest';
import type { TrackState } from '../tracker.ts';
import type { ZoneConfig } from '../types.ts';
import { createCrossingWarning } from './crossing.ts';

/** A track standing (bottom-centre) at (x, y). */
function standing(id: number, label: string, x: number, y: number): TrackState {
  const box = { x: x - 0.05, y: y - 0.2, w: 0.1, h: 0.2 };
  return { id, label, box, score: 0.9, firstMono: 0, lastMono: 0, path: [{ mono: 0, x, y: y - 0.1 }], hits: 1, seen: true, vx: 0, vy: 0, bestScore: 0.9, bestBox: box, bestMono: 0 };
}
const zones: ZoneConfig[] = [
  { name: 'zebra', polygon: [[0.3, 0.6], [0.7, 0.6], [0.7, 0.8], [0.3, 0.8]] },
  { name: 'approach', polygon: [[0, 0.6], [0.3, 0.6], [0.3, 0.8], [0, 0.8]] },
];
const walker = standing(1, 'person', 0.5, 0.7);
const away = standing(1, 'person', 0.5, 0.3);
const car = standing(2, 'car', 0.15, 0.7);

/** Runs a timeline (one entry per 200 ms) and returns "mono:state" of the events. */
function run(w: ReturnType<typeof createCrossingWarning>, timeline: TrackState[][]): string[] {
  return timeline.flatMap((tracks, k) => w.update({ mono: k * 200, ts: k * 200, tracks, ended: [] }).map((e) => `${k * 200}:${e.state}`));
}

describe('crossing warning', () => {
  test('raise when a pedestrian is on the crossing, clear 1 s after the last one was seen there', () => {
    const w = createCrossingWarning({ zone: 'zebra' }, zones);
    const tl = [[away], [walker], [walker], [], [walker], [away], [away], [away], [away], [away], [away]];
    // Gone at 600 but back at 800 (within the grace): no clear; last seen at 800: clear at 1800.
    expect(run(w, tl)).toEqual(['200:raise', '1800:clear']);
  });

  test('raise data and evidence', () => {
    const w = createCrossingWarning({ zone: 'zebra', approachZone: 'approach' }, zones);
    const [e] = w.update({ mono: 0, ts: 0, tracks: [walker, car], ended: [] });
    expect(e).toMatchObject({ type: 'video.crossing_warning', severity: 'warning', state: 'raise', data: { zone: 'zebra', approachZone: 'approach', pedestrians: 1, vehicles: 1, tracks: [1, 2] } });
    expect(e.evidence!.boxes.map((b) => b.label)).toEqual(['person', 'car']);
  });

  test('not more often than holdSeconds; pairs always complete', () => {
    const w = createCrossingWarning({ zone: 'zebra', holdSeconds: 3 }, zones);
    // On at 0, off from 200 → clear at 1000; on again 1400..3200 (hold until 3000) → raise at
    // 3000, clear at 4200.
    const tl: TrackState[][] = [[walker], ...Array(6).fill([]), ...Array(10).fill([walker]), ...Array(7).fill([])];
    expect(run(w, tl)).toEqual(['0:raise', '1000:clear', '3000:raise', '4200:clear']);
  });

  test('with an approach zone: only while a vehicle approaches; close() clears', () => {
    const w = createCrossingWarning({ zone: 'zebra', approachZone: 'approach' }, zones);
    expect(run(w, [[walker], [walker, standing(3, 'car', 0.5, 0.3)], [walker, car]])).toEqual(['400:raise']);
    expect(w.close().map((e) => [e.state, e.data.reason])).toEqual([['clear', 'closed']]);
    expect(w.close()).toEqual([]);
  });

  test('an unknown zone is refused naming it', () => {
    expect(() => createCrossingWarning({ zone: 'zebra', approachZone: 'road' }, zones)).toThrow(/approachZone "road".*zebra, approach/);
  });
});
