// Counting lines: crossings both directions (named and default names), counters, touches that
// turn back, passing beyond the line's ends, class filters.
import { describe, expect, test } from 'vitest';
import type { TrackState } from '../tracker.ts';
import type { LineConfig } from '../types.ts';
import { createLines } from './lines.ts';

/** A track whose latest centroid is (x, y). */
function at(id: number, x: number, y: number, mono: number, label = 'person'): TrackState {
  const box = { x: x - 0.05, y: y - 0.05, w: 0.1, h: 0.1 };
  return { id, label, box, score: 0.9, firstMono: 0, lastMono: mono, path: [{ mono, x, y }], hits: 1, seen: true, vx: 0, vy: 0, bestScore: 0.9, bestBox: box, bestMono: mono };
}
const f = (mono: number, tracks: TrackState[], ended: TrackState[] = []) => ({ mono, ts: mono, tracks, ended });
// Horizontal line, left to right: side A (left of from→to, seen on the image) is ABOVE it.
const gate: LineConfig = { name: 'gate', from: [0.2, 0.5], to: [0.8, 0.5], directions: ['in', 'out'] };

describe('lines', () => {
  test('downwards is A→B (directions[0]), upwards B→A, with counters', () => {
    const l = createLines([gate]);
    const seq = (id: number, ys: number[], t0: number) => ys.flatMap((y, k) => l.update(f(t0 + k * 200, [at(id, 0.5, y, t0 + k * 200)])));
    const down = seq(1, [0.3, 0.45, 0.55, 0.7], 0);
    expect(down.map((e) => [e.type, e.data.line, e.data.direction, e.data.track, e.data.point])).toEqual([
      ['video.line_cross', 'gate', 'in', 1, { x: 0.5, y: 0.5 }],
    ]);
    const up = seq(2, [0.9, 0.6, 0.4], 1000);
    expect(up.map((e) => e.data.direction)).toEqual(['out']);
    seq(3, [0.1, 0.9], 2000);
    expect(l.readings()).toEqual([{ point: 'line.gate.in', value: 2 }, { point: 'line.gate.out', value: 1 }]);
    expect(l.crossed(1)).toEqual([{ line: 'gate', direction: 'in' }]);
  });

  test('default names a_to_b / b_to_a; a downward line: side A (left-hand walking from→to) is x > 0.5', () => {
    const l = createLines([{ name: 'kerb', from: [0.5, 0], to: [0.5, 1] }]);
    // from→to points down the image; its left, seen on the image, is x > 0.5.
    l.update(f(0, [at(1, 0.7, 0.5, 0)]));
    expect(l.update(f(200, [at(1, 0.3, 0.5, 200)])).map((e) => e.data.direction)).toEqual(['a_to_b']);
    expect(l.update(f(400, [at(1, 0.6, 0.5, 400)])).map((e) => e.data.direction)).toEqual(['b_to_a']);
  });

  test('touching the line and going back is no crossing; touching and going on is one', () => {
    const l = createLines([gate]);
    const ys = [0.4, 0.5, 0.4, 0.5, 0.6];
    const ev = ys.flatMap((y, k) => l.update(f(k * 200, [at(1, 0.5, y, k * 200)])));
    expect(ev.map((e) => e.data.direction)).toEqual(['in']);
  });

  test('passing beyond the end of the segment is no crossing', () => {
    const l = createLines([gate]);
    l.update(f(0, [at(1, 0.9, 0.3, 0)]));
    expect(l.update(f(200, [at(1, 0.9, 0.7, 200)]))).toEqual([]);
    expect(l.readings().map((r) => r.value)).toEqual([0, 0]);
  });

  test('class filter, unseen tracks and ended tracks', () => {
    const l = createLines([{ ...gate, classes: ['car'] }]);
    l.update(f(0, [at(1, 0.5, 0.3, 0)]));
    expect(l.update(f(200, [at(1, 0.5, 0.7, 200)]))).toEqual([]);
    l.update(f(0, [at(2, 0.5, 0.3, 0, 'car')]));
    const unseen = { ...at(2, 0.5, 0.7, 200, 'car'), seen: false };
    expect(l.update(f(200, [unseen]))).toEqual([]);
    // Ended: its memory is dropped, a new track with the same id starts fresh.
    l.update(f(400, [], [unseen]));
    expect(l.update(f(600, [at(2, 0.5, 0.7, 600, 'car')]))).toEqual([]);
  });
});
