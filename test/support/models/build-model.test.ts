// The test models run in the real onnxruntime and give the outputs build-model.ts promises:
// per-cell channel means as class scores, constant cell boxes, both layouts, metadata names.
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { buildBadModel, buildGridDetector } from './build-model.ts';

/** A 64x64 input (NCHW, 0..1) with a pure red 16x16 square at cell (gx, gy) of a 4x4 grid. */
function redSquare(gx: number, gy: number): Float32Array {
  const s = 64;
  const t = new Float32Array(3 * s * s);
  for (let y = gy * 16; y < gy * 16 + 16; y++) for (let x = gx * 16; x < gx * 16 + 16; x++) t[y * s + x] = 1;
  return t;
}

async function run(bytes: Uint8Array, input: Float32Array, dims = [1, 3, 64, 64]) {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  await s.release();
  return out[s.outputNames[0]];
}

describe('buildGridDetector', () => {
  it('yolov8: [1,4+C,N] with the cell box and channel-mean scores', async () => {
    const t = await run(buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8' }), redSquare(2, 1));
    expect(t.dims).toEqual([1, 6, 16]);
    const d = t.data as Float32Array;
    const n = 16;
    const cell = 1 * 4 + 2; // gy=1, gx=2
    expect([d[cell], d[n + cell], d[2 * n + cell], d[3 * n + cell]]).toEqual([40, 24, 16, 16]);
    expect(d[4 * n + cell]).toBeCloseTo(1, 6); // person = red
    expect(d[5 * n + cell]).toBeCloseTo(0, 6); // car = green
    expect(d[4 * n + 0]).toBeCloseTo(0, 6); // another cell
  });

  it('yolov5: [1,N,5+C] with objectness 1', async () => {
    const t = await run(buildGridDetector({ size: 64, grid: 4, classes: ['a', 'b', 'c'], layout: 'yolov5' }), redSquare(0, 3));
    expect(t.dims).toEqual([1, 16, 8]);
    const d = t.data as Float32Array;
    const row = Array.from(d.subarray(12 * 8, 13 * 8));
    expect(row.slice(0, 5)).toEqual([8, 56, 16, 16, 1]);
    expect(row[5]).toBeCloseTo(1, 6);
    expect(row[6]).toBeCloseTo(0, 6);
  });

  it('writes Ultralytics names in the metadata', () => {
    const m = onnxProto.onnx.ModelProto.decode(buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }));
    expect(m.metadataProps.map((p) => [p.key, p.value])).toEqual([['names', "{0: 'person', 1: 'car'}"]]);
  });

  it('bad models load and run with the promised wrong shapes', async () => {
    const wi = await ort.InferenceSession.create(buildBadModel('wrong-input'));
    expect(wi.inputMetadata[0]).toMatchObject({ shape: [1, 64, 64, 3] });
    await wi.release();
    const t = await run(buildBadModel('wrong-output'), redSquare(0, 0));
    expect(t.dims).toEqual([1, 96]);
  });
});
