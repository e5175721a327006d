// Frames into model input: letterbox geometry, the pad, HWC -> CHW, normalization, bilinear
// scaling, region crops, and the undo back to normalized frame boxes.
import { describe, expect, it } from 'vitest';
import { cropRect, frameToTensor, letterbox, PAD_VALUE, toFrameBox } from './tensor.ts';
import type { RgbFrame } from './types.ts';

function frame(width: number, height: number, px: (x: number, y: number) => [number, number, number]): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(px(x, y), (y * width + x) * 3);
  return { width, height, data, ts: 0, mono: 0, seq: 0 };
}
const at = (t: Float32Array, W: number, H: number, c: number, x: number, y: number) => t[c * W * H + y * W + x];

describe('frameToTensor', () => {
  it('copies a frame of the fitted size, pads the rest grey, channels planar', () => {
    // 8x4 into 8x8: fits 8x4, 2 rows of pad above and below.
    const f = frame(8, 4, (x, y) => [x * 10, y * 20, 255]);
    const out = new Float32Array(3 * 64);
    const map = frameToTensor(f, { width: 8, height: 8 }, out);
    expect(map).toMatchObject({ fitW: 8, fitH: 4, padX: 0, padY: 2, cropW: 8, cropH: 4 });
    expect(at(out, 8, 8, 0, 3, 2 + 1)).toBeCloseTo(30 / 255, 6);
    expect(at(out, 8, 8, 1, 3, 2 + 1)).toBeCloseTo(20 / 255, 6);
    expect(at(out, 8, 8, 2, 7, 5)).toBeCloseTo(1, 6);
    for (const y of [0, 1, 6, 7]) for (let c = 0; c < 3; c++) expect(at(out, 8, 8, c, 4, y)).toBeCloseTo(PAD_VALUE / 255, 6);
  });

  it('normalizes with mean/std, the pad too', () => {
    const f = frame(2, 1, () => [255, 0, 51]);
    const out = new Float32Array(3 * 4);
    frameToTensor(f, { width: 2, height: 2, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 0.5] }, out);
    // row 0 is the image? 2x1 into 2x2: padY = 0 (floor of 0.5), image on row 0.
    expect([out[0], out[4], out[8]].map((v) => +v.toFixed(4))).toEqual([1, -2, -0.6]);
    expect(out[2]).toBeCloseTo((114 / 255 - 0.5) / 0.5, 5);
  });

  it('scales bilinearly: a uniform image stays uniform, a 2x shrink averages pixel pairs', () => {
    const f = frame(16, 8, (x) => [x % 2 ? 200 : 100, 50, 0]);
    const out = new Float32Array(3 * 64);
    const map = frameToTensor(f, { width: 8, height: 8 }, out);
    expect(map).toMatchObject({ fitW: 8, fitH: 4, padY: 2 });
    for (let x = 0; x < 8; x++) {
      expect(at(out, 8, 8, 0, x, 3) * 255).toBeCloseTo(150, 3);
      expect(at(out, 8, 8, 1, x, 3) * 255).toBeCloseTo(50, 3);
    }
  });

  it('crops a region and maps model pixels back to the whole frame', () => {
    const f = frame(100, 50, (x, y) => [x, y, 0]);
    const region = { x: 0.2, y: 0.2, w: 0.4, h: 0.4 }; // pixels 20..60 x 10..30
    expect(cropRect(f, region)).toEqual({ x: 20, y: 10, w: 40, h: 20 });
    const out = new Float32Array(3 * 40 * 40);
    const map = frameToTensor(f, { width: 40, height: 40 }, out, region);
    expect(map).toMatchObject({ fitW: 40, fitH: 20, padX: 0, padY: 10 });
    expect(at(out, 40, 40, 0, 5, 10) * 255).toBeCloseTo(25, 4);
    expect(at(out, 40, 40, 1, 5, 10) * 255).toBeCloseTo(10, 4);
    // Input (10..20, 10..20) is crop pixels (10..20, 0..10) = frame (30..40, 10..20).
    const b = toFrameBox(map, 10, 10, 20, 20)!;
    expect([b.x * 100, b.y * 50, b.w * 100, b.h * 50].map((v) => +v.toFixed(9))).toEqual([30, 10, 10, 10]);
    // Into the pad: clamped to the crop; all in the pad: nothing.
    const all = toFrameBox(map, 0, 0, 40, 40)!;
    expect([all.x, all.y, all.w, all.h].map((v) => +v.toFixed(9))).toEqual([0.2, 0.2, 0.4, 0.4]);
    expect(toFrameBox(map, 0, 0, 40, 9)).toBeUndefined();
  });

  it('undoes the letterbox of a non-square frame exactly', () => {
    const map = letterbox({ width: 1920, height: 1080 }, { width: 640, height: 640 });
    expect(map).toMatchObject({ fitW: 640, fitH: 360, padX: 0, padY: 140 });
    const b = toFrameBox(map, 320, 140 + 180, 640, 140 + 360)!;
    expect(b).toEqual({ x: 0.5, y: 0.5, w: 0.5, h: 0.5 });
  });

  it('refuses a short frame buffer or a wrong output size with a clear error', () => {
    const f = { ...frame(4, 4, () => [0, 0, 0]), data: new Uint8Array(10) };
    expect(() => frameToTensor(f, { width: 4, height: 4 }, new Float32Array(48))).toThrow(/frame 4x4 needs 48 bytes of RGB24, got 10/);
    expect(() => frameToTensor(frame(4, 4, () => [0, 0, 0]), { width: 4, height: 4 }, new Float32Array(47))).toThrow(/needs 3x4x4 = 48/);
  });
});
