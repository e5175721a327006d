// Video structuring: colour classes on exact pixels, the dominant colour of a box on a
// synthetic frame, compass words, the `video.track` summary.
import { describe, expect, test } from 'vitest';
import type { TrackState } from '../tracker.ts';
import type { RgbFrame } from '../types.ts';
import { colourOf, createStructuring, directionWord, dominantColour } from './structuring.ts';

/** 100×100 frame, grey background, a rectangle of `rgb` at pixels [x0,x1)×[y0,y1). */
function frame(rgb: [number, number, number], x0: number, y0: number, x1: number, y1: number, mono = 0): RgbFrame {
  const data = new Uint8Array(100 * 100 * 3).fill(128);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data.set(rgb, (y * 100 + x) * 3);
  return { width: 100, height: 100, data, ts: 1_000_000 + mono, mono, seq: 0 };
}

describe('colours', () => {
  test('pixel classes', () => {
    expect(colourOf(200, 20, 30)).toBe('red');
    expect(colourOf(20, 40, 200)).toBe('blue');
    expect(colourOf(30, 180, 40)).toBe('green');
    expect(colourOf(240, 240, 235)).toBe('white');
    expect(colourOf(10, 12, 10)).toBe('black');
    expect(colourOf(128, 128, 128)).toBe('grey');
    expect(colourOf(230, 220, 30)).toBe('yellow');
    expect(colourOf(240, 140, 20)).toBe('orange');
    expect(colourOf(120, 70, 20)).toBe('brown');
    expect(colourOf(140, 40, 200)).toBe('purple');
    expect(colourOf(20, 200, 200)).toBe('cyan');
    expect(colourOf(240, 100, 180)).toBe('pink');
  });

  test('dominant colour of a box: its inner part, not the background around the object', () => {
    // A red car 40×20 px; the box is 20 % larger than the car on every side.
    const f = frame([190, 25, 20], 30, 40, 70, 60);
    expect(dominantColour(f, { x: 0.22, y: 0.36, w: 0.56, h: 0.28 })).toBe('red');
    // Only grey background in the box.
    expect(dominantColour(f, { x: 0, y: 0, w: 0.2, h: 0.2 })).toBe('grey');
    expect(dominantColour(f, { x: 0.5, y: 0.5, w: 0, h: 0 })).toBeUndefined();
  });

  test('compass words, north = up', () => {
    expect(directionWord(0.5, 0)).toBe('east');
    expect(directionWord(0, -0.5)).toBe('north');
    expect(directionWord(-0.3, 0.3)).toBe('south_west');
    expect(directionWord(0.3, -0.3)).toBe('north_east');
    expect(directionWord(0.01, 0.01)).toBe('stationary');
  });
});

describe('track summary', () => {
  test('video.track with path summary, colour at the best-scoring frame, zones and lines', () => {
    const s = createStructuring();
    const t: TrackState = {
      id: 4, label: 'car', box: { x: 0.1, y: 0.4, w: 0.2, h: 0.2 }, score: 0.5, firstMono: 0, lastMono: 0,
      path: [{ mono: 0, x: 0.2, y: 0.5 }], hits: 1, seen: true, vx: 0, vy: 0, bestScore: 0.5, bestBox: { x: 0.1, y: 0.4, w: 0.2, h: 0.2 }, bestMono: 0,
    };
    // Frame 1: the box holds a blue patch, score 0.5. Frame 2: a red patch at a better score 0.9.
    s.observe(frame([20, 40, 200], 10, 40, 30, 60, 0), [t]);
    Object.assign(t, { box: { x: 0.5, y: 0.4, w: 0.2, h: 0.2 }, score: 0.9, bestScore: 0.9, bestBox: { x: 0.5, y: 0.4, w: 0.2, h: 0.2 }, lastMono: 2000 });
    t.path.push({ mono: 1000, x: 0.4, y: 0.5 }, { mono: 2000, x: 0.6, y: 0.5 });
    s.observe(frame([200, 20, 20], 50, 40, 70, 60, 2000), [t]);
    // Frame 3: unseen (missed), a green patch: ignored.
    s.observe(frame([20, 200, 20], 50, 40, 70, 60, 2200), [{ ...t, seen: false, score: 0.99 }]);
    const e = s.summarize(t, { zones: ['bay'], lines: [{ line: 'gate', direction: 'in' }] });
    expect(e.type).toBe('video.track');
    expect(e.data).toEqual({
      track: 4, label: 'car', firstSeen: 1_000_000, lastSeen: 1_002_000, seconds: 2,
      path: { start: { x: 0.2, y: 0.5 }, end: { x: 0.6, y: 0.5 }, bbox: { x: 0.2, y: 0.5, w: 0.4, h: 0 }, distance: 0.4, meanSpeed: 0.2, direction: 'east', points: 3 },
      zones: ['bay'], lines: [{ line: 'gate', direction: 'in' }], bestScore: 0.9, box: { x: 0.5, y: 0.4, w: 0.2, h: 0.2 }, colour: 'red',
    });
  });
});
