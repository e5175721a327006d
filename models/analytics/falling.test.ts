// Falling objects on real ffmpeg-encoded and decoded clips (grey facade on a dark background):
// a small box in free fall gives exactly one `video.fall` going down; a person-sized shape
// walking across the facade, and boxes descending at constant speed (a lift), give none.
// Plus the fall test itself on exact paths.
import { describe, expect, test } from 'vitest';
import { clipFrames, type ClipSpec } from '../../test/support/video/clips.ts';
import { createMotion } from '../motion.ts';
import type { AnalyticEvent, Point2, RgbFrame } from '../types.ts';
import { createFalling, judgeFall, quadraticCoefficient } from './falling.ts';

const facade = { x: 60, y: 10, w: 200, h: 220, color: '0x808080' };
const region: Point2[] = [[60 / 320, 10 / 240], [260 / 320, 10 / 240], [260 / 320, 230 / 240], [60 / 320, 230 / 240]];

function falls(frames: RgbFrame[]): AnalyticEvent[] {
  const motion = createMotion();
  const falling = createFalling({ region });
  return frames.flatMap((f) => falling.update(motion.update(f), f));
}
const clip = (shape: NonNullable<ClipSpec['shapes']>[number], codec: ClipSpec['codec'] = 'mpeg4') => clipFrames({ codec, rects: [facade], shapes: [shape] });
// 10×10 white box held at y = 20 px from 0.3 s, released at 0.5 s: y = 20 + 50 (t − 0.5)² px.
const dropped = { w: 10, h: 10, color: 'white', x: 150, y: '20+50*pow(max(t-0.5,0),2)', from: 0.3 };

describe('falling objects on decoded video', () => {
  test('free fall: one event, its path going down and speeding up', async () => {
    const ev = falls(await clip(dropped));
    expect(ev.length).toBe(1);
    const d = ev[0].data as { path: { t: number; x: number; y: number }[]; start: { x: number; y: number; ts: number }; end: { x: number; y: number }; drop: number; acceleration: number; region: Point2[] };
    expect(ev[0]).toMatchObject({ type: 'video.fall', severity: 'critical' });
    expect(d.region).toEqual(region);
    expect(d.drop).toBeGreaterThanOrEqual(0.15);
    expect(d.end.y - d.start.y).toBeCloseTo(d.drop, 3);
    for (let i = 1; i < d.path.length; i++) expect(d.path[i].y).toBeGreaterThanOrEqual(d.path[i - 1].y);
    for (const p of d.path) expect(Math.abs(p.x - 155 / 320)).toBeLessThan(0.02);
    // 50 px/s² ×2 = 100 px/s² = 0.417 image heights/s²; centroids on a 160-wide grid: ±25 %.
    expect(d.acceleration).toBeGreaterThan(0.3);
    expect(d.acceleration).toBeLessThan(0.55);
  });

  test('the same fall in MJPEG at 5 fps (every other frame) still gives one event', async () => {
    const frames = (await clip(dropped, 'mjpeg')).filter((f) => f.seq % 2 === 0);
    expect(falls(frames).length).toBe(1);
  });

  test('a person walking across the facade is no fall', async () => {
    expect(falls(await clip({ w: 16, h: 40, color: '0xc0a080', x: '20+80*t', y: 150 }))).toEqual([]);
  });

  test('boxes descending at constant speed (a lift) are no fall, although they drop far', async () => {
    for (const speed of [30, 60]) {
      const frames = await clip({ w: 12, h: 12, color: 'white', x: 150, y: `20+${speed}*t`, from: 0.2 });
      const motion = createMotion();
      const falling = createFalling({ region });
      let longest = 0;
      const ev = frames.flatMap((f) => {
        const out = falling.update(motion.update(f), f);
        for (const t of falling.tracks()) longest = Math.max(longest, t.points[t.points.length - 1].y - t.points[0].y);
        return out;
      });
      expect(longest).toBeGreaterThan(0.3); // it was tracked over a long drop...
      expect(ev).toEqual([]); // ...and judged no fall
    }
  });
});

describe('judgeFall on exact paths', () => {
  const path = (y: (t: number) => number, n = 10, dt = 0.2, x = (_t: number) => 0.5) =>
    Array.from({ length: n }, (_, k) => ({ t: k * dt, x: x(k * dt), y: y(k * dt) }));

  test('free fall from rest', () => {
    const v = judgeFall(path((t) => 0.1 + 0.2 * t * t, 6), 0.15);
    expect(v.fall).toBe(true);
    expect(v.acceleration).toBeCloseTo(0.4, 9);
    expect(v.drop).toBeCloseTo(0.2, 9);
  });
  test('thrown down with an initial speed still accelerates', () => {
    expect(judgeFall(path((t) => 0.1 + 0.3 * t + 0.4 * t * t, 5), 0.15).fall).toBe(true);
  });
  test('constant speed, a lift that accelerates then cruises, sideways, too short, too small', () => {
    expect(judgeFall(path((t) => 0.1 + 0.2 * t), 0.15)).toMatchObject({ fall: false, reason: 'no acceleration' });
    // 1 s at 0.1 heights/s² then 0.1 heights/s for 4 s.
    const lift = (t: number) => (t < 1 ? 0.05 * t * t : 0.05 + 0.1 * (t - 1));
    expect(judgeFall(path(lift, 26), 0.15).fall).toBe(false);
    expect(judgeFall(path((t) => 0.1 + 0.2 * t * t, 6, 0.2, (t) => 0.1 + 0.5 * t), 0.15)).toMatchObject({ fall: false, reason: 'more sideways than down' });
    expect(judgeFall(path((t) => 0.1 + 0.2 * t * t, 3), 0.15)).toMatchObject({ fall: false, reason: 'too short' });
    expect(judgeFall(path((t) => 0.1 + 0.05 * t * t, 6), 0.15)).toMatchObject({ fall: false, reason: 'drop below minDrop' });
  });
  test('quadratic fit recovers c exactly', () => {
    const ts = [0, 0.1, 0.3, 0.4, 0.9];
    expect(quadraticCoefficient(ts, ts.map((t) => 1 - 2 * t + 3 * t * t))).toBeCloseTo(3, 9);
  });
});
