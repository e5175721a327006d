// Tracker: id stability through crossing paths and brief misses, timeouts by frame.mono,
// per-class matching, fast small objects (centroid), regions, bounded paths.
import { describe, expect, test } from 'vitest';
import { createTracker } from './tracker.ts';
import type { Detection } from './types.ts';

const det = (label: string, x: number, y: number, w = 0.1, h = 0.2, score = 0.9): Detection =>
  ({ label, classId: label === 'person' ? 0 : 2, score, box: { x, y, w, h } });

describe('tracker', () => {
  test('two people crossing paths keep their ids', () => {
    const tr = createTracker({ timeoutSeconds: 2 });
    const ids: [number, number][] = [];
    // A walks right, B walks left, on the same row: their boxes coincide at k = 8 and are
    // swapped-looking right after; only the velocity prediction tells them apart.
    for (let k = 0; k <= 16; k++) {
      const a = det('person', 0.05 + 0.05 * k, 0.4);
      const b = det('person', 0.85 - 0.05 * k, 0.4);
      const u = tr.update(k % 2 ? [b, a] : [a, b], k * 200);
      const at = (d: Detection) => u.tracks.find((t) => t.seen && t.box.x === d.box.x && t.box.y === d.box.y)!.id;
      if (k !== 8) ids.push([at(a), at(b)]);
      expect(u.tracks.length).toBe(2);
    }
    expect(new Set(ids.map((p) => p[0]))).toEqual(new Set([1]));
    expect(new Set(ids.map((p) => p[1]))).toEqual(new Set([2]));
  });

  test('a brief miss keeps the id; a miss longer than the timeout ends the track', () => {
    const tr = createTracker({ timeoutSeconds: 2 });
    tr.update([det('car', 0.1, 0.5)], 0);
    tr.update([det('car', 0.12, 0.5)], 200);
    expect(tr.update([], 400).ended).toEqual([]);
    expect(tr.update([], 600).tracks.length).toBe(1);
    const back = tr.update([det('car', 0.18, 0.5)], 800);
    expect(back.tracks.map((t) => t.id)).toEqual([1]);
    expect(back.started).toEqual([]);
    expect(tr.update([], 2800).ended).toEqual([]); // exactly 2 s unseen: still alive
    const gone = tr.update([], 2801);
    expect(gone.ended.map((t) => t.id)).toEqual([1]);
    expect(gone.tracks).toEqual([]);
    expect(tr.update([det('car', 0.18, 0.5)], 3000).started.map((t) => t.id)).toEqual([2]);
  });

  test('classes never match each other', () => {
    const tr = createTracker({ timeoutSeconds: 2 });
    tr.update([det('person', 0.3, 0.3)], 0);
    const u = tr.update([det('car', 0.3, 0.3)], 200);
    expect(u.started.map((t) => [t.id, t.label])).toEqual([[2, 'car']]);
  });

  test('a small fast object (no overlap between frames) is followed by its centroid', () => {
    const tr = createTracker({ timeoutSeconds: 2 });
    let last;
    for (let k = 0; k < 6; k++) last = tr.update([det('sports ball', 0.1 + 0.06 * k, 0.5, 0.04, 0.04)], k * 200);
    expect(last!.tracks.map((t) => t.id)).toEqual([1]);
    expect(last!.tracks[0].path.length).toBe(6);
    expect(last!.tracks[0].vx).toBeCloseTo(0.3, 9); // 0.06 per 200 ms
  });

  test('a track outside the inferred regions is neither matched nor missed', () => {
    const tr = createTracker({ timeoutSeconds: 1 });
    tr.update([det('car', 0.7, 0.7)], 0);
    // The detector looked only at the top-left: the car is not there, and not new either.
    const u = tr.update([det('person', 0.1, 0.1)], 200, [{ x: 0, y: 0, w: 0.4, h: 0.4 }]);
    expect(u.tracks.map((t) => [t.id, t.label, t.seen])).toEqual([[1, 'car', false], [2, 'person', true]]);
  });

  test('the path is bounded and thinned, first and last points kept', () => {
    const tr = createTracker({ timeoutSeconds: 2, maxPath: 64 });
    let u;
    for (let k = 0; k < 200; k++) u = tr.update([det('car', 0.001 * k, 0.5)], k * 100);
    const p = u!.tracks[0].path;
    expect(p.length).toBeLessThanOrEqual(64);
    expect(p.length).toBeGreaterThanOrEqual(32);
    expect(p[0].mono).toBe(0);
    expect(p[p.length - 1].mono).toBe(19_900);
    for (let i = 1; i < p.length; i++) expect(p[i].mono).toBeGreaterThan(p[i - 1].mono);
  });

  test('endAll ends the live tracks', () => {
    const tr = createTracker({ timeoutSeconds: 2 });
    tr.update([det('car', 0.1, 0.1), det('person', 0.5, 0.5)], 0);
    expect(tr.endAll().map((t) => t.id)).toEqual([1, 2]);
    expect(tr.live()).toEqual([]);
  });
});
