// The motion stage on real ffmpeg-encoded and decoded video (test/support/video/clips.ts):
// a static scene settles to no motion, a moving object gives one box around it, the ghost of
// an object that was in the first frame fades, a global change resets; plus synthetic frames
// for the reset and the frame-size check.
import { describe, expect, test } from 'vitest';
import { clipFrames } from '../test/support/video/clips.ts';
import { containsPoint } from './geometry.ts';
import { createMotion } from './motion.ts';
import type { RgbFrame } from './types.ts';

const facade = { x: 60, y: 10, w: 200, h: 220, color: '0x808080' };

describe('motion stage on decoded video', () => {
  test('a static scene: no motion boxes and no blobs once the background is set', async () => {
    const frames = await clipFrames({ codec: 'mjpeg', rects: [facade, { x: 100, y: 100, w: 30, h: 30, color: 'red' }] });
    expect(frames.length).toBe(30);
    const m = createMotion();
    expect(m.update(frames[0]).reset).toBe(true);
    for (const f of frames.slice(1)) {
      const r = m.update(f);
      expect(r.boxes).toEqual([]);
      expect(r.blobs).toEqual([]);
      expect(r.fraction).toBe(0);
    }
  });

  test('a moving object: one padded box around it on every frame, and its blob centroid follows it', async () => {
    // 20×20 white square entering at t = 0.2 s, x = 40 + 60 t px, y = 100 px.
    const frames = await clipFrames({ shapes: [{ w: 20, h: 20, color: 'white', x: '40+60*t', y: 100, from: 0.2 }] });
    const m = createMotion();
    let first: unknown;
    for (const f of frames) {
      const r = m.update(f);
      first ??= r;
      expect(r).toBe(first); // the result object is reused (no per-frame allocation of it)
      const t = f.seq / 10;
      if (t < 0.2) {
        expect(r.boxes).toEqual([]);
        continue;
      }
      const cx = (40 + 60 * t + 10) / 320, cy = 110 / 240;
      expect(r.boxes.length).toBe(1);
      expect(containsPoint(r.boxes[0], [cx, cy])).toBe(true);
      expect(r.boxes[0].w).toBeLessThan(0.2);
      expect(r.blobs.length).toBe(1);
      expect(Math.abs(r.blobs[0].cx - cx)).toBeLessThan(0.02);
      expect(Math.abs(r.blobs[0].cy - cy)).toBeLessThan(0.02);
    }
  });

  test('the ghost of an object that was in the first frame and left fades after stillFrames', async () => {
    // The walker is in the first frame (part of the first background) and walks away.
    const frames = await clipFrames({ rects: [facade], shapes: [{ w: 16, h: 40, color: '0xc0a080', x: '20+80*t', y: 150 }] });
    const m = createMotion({ stillFrames: 10 });
    const start = [28 / 320, 170 / 240] as [number, number];
    const ghostAt: number[] = [];
    for (const f of frames) {
      const r = m.update(f);
      if (r.blobs.some((b) => containsPoint(b.box, start) && Math.abs(b.cx - start[0]) < 0.02)) ghostAt.push(f.seq);
    }
    expect(ghostAt.length).toBeGreaterThan(3); // it was there...
    expect(Math.max(...ghostAt)).toBeLessThanOrEqual(13); // ...and gone ~10 frames after the walker left
  });
});

describe('motion stage on synthetic frames', () => {
  const flat = (v: number, seq: number, w = 64, h = 48): RgbFrame => ({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v), ts: seq * 200, mono: seq * 200, seq });

  test('a global change (lights) resets the background and gives no boxes', () => {
    const m = createMotion();
    m.update(flat(50, 0));
    const r = m.update(flat(150, 1));
    expect(r.reset).toBe(true);
    expect(r.fraction).toBe(1);
    expect(r.boxes).toEqual([]);
    const after = m.update(flat(150, 2));
    expect([after.reset, after.fraction, after.boxes.length]).toEqual([false, 0, 0]);
  });

  test('the small image is at most 160 wide, area-averaged; a size change starts over', () => {
    const m = createMotion();
    const r = m.update(flat(100, 0, 640, 360));
    expect([r.width, r.height, r.grey[0]]).toEqual([160, 90, 100]);
    expect(m.update(flat(100, 1, 320, 240)).reset).toBe(true);
    expect([r.width, r.height]).toEqual([160, 120]);
  });

  test('a frame shorter than its size says is refused naming the frame', () => {
    const m = createMotion();
    expect(() => m.update({ ...flat(1, 7), data: new Uint8Array(10) })).toThrow(/frame 7 has 10 bytes, 64x48 RGB24 needs 9216/);
  });
});
