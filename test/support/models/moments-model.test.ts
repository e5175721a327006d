// The test model's answers are what its header promises, run by the real onnxruntime.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildMomentsDetector } from './moments-model.ts';

/** An S×S NCHW input: grey background with filled rectangles of pure colours. */
function frame(S: number, rects: { x: number; y: number; w: number; h: number; c: 0 | 1 | 2 }[]): Float32Array {
  const t = new Float32Array(3 * S * S).fill(114 / 255);
  for (const r of rects) for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) {
    for (let ch = 0; ch < 3; ch++) t[ch * S * S + y * S + x] = ch === r.c ? 1 : 0;
  }
  return t;
}

describe('moments test detector', () => {
  for (const layout of ['yolov8', 'yolov5'] as const) {
    it(`${layout}: one box per colour, from the image moments`, async () => {
      const s = await ort.InferenceSession.create(buildMomentsDetector({ size: 64, classes: ['person', 'car'], layout, names: true }));
      const out = await s.run({ images: new ort.Tensor('float32', frame(64, [{ x: 10, y: 20, w: 8, h: 16, c: 0 }, { x: 40, y: 4, w: 20, h: 10, c: 1 }]), [1, 3, 64, 64]) });
      const o = out.output0;
      const d = o.data as Float32Array;
      const at = layout === 'yolov8' ? (k: number, n: number) => d[k * 2 + n] : (k: number, n: number) => d[n * 7 + (k < 4 ? k : k + 1)];
      expect(o.dims).toEqual(layout === 'yolov8' ? [1, 6, 2] : [1, 2, 7]);
      // candidate 0 = red = person: centre (14, 28), size 8×16
      expect([at(0, 0), at(1, 0), at(2, 0), at(3, 0)].map((v) => Math.round(v * 100) / 100)).toEqual([14, 28, 8, 16]);
      expect(at(4, 0)).toBeGreaterThan(0.95);
      expect(at(5, 0)).toBe(0);
      expect([at(0, 1), at(1, 1), at(2, 1), at(3, 1)].map((v) => Math.round(v * 100) / 100)).toEqual([50, 9, 20, 10]);
      expect(at(5, 1)).toBeGreaterThan(0.95);
      await s.release();
    });
  }

  it('no object of a colour: that candidate scores 0; the dead-weight backbone changes nothing', async () => {
    const s = await ort.InferenceSession.create(buildMomentsDetector({ size: 64, classes: ['person'], layout: 'yolov8', backbone: { layers: 3, channels: 8 } }));
    const empty = await s.run({ images: new ort.Tensor('float32', frame(64, []), [1, 3, 64, 64]) });
    expect((empty.output0.data as Float32Array)[4]).toBe(0);
    const one = await s.run({ images: new ort.Tensor('float32', frame(64, [{ x: 0, y: 0, w: 10, h: 10, c: 0 }]), [1, 3, 64, 64]) });
    expect(Array.from(one.output0.data as Float32Array).map((v) => Math.round(v * 100) / 100)).toEqual([5, 5, 10, 10, 1]);
  });
});
