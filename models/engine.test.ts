// The engine on real onnxruntime with models built by test/support/models/build-model.ts:
// both layouts agree, the letterbox undo is exact on a non-square frame, per-class thresholds,
// region crops mapped back with NMS across regions, class names from metadata, the clear errors
// (wrong input, wrong output, truncated, garbage, sha256 mismatch) and the statistics.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLog } from '../runtime/log.ts';
import { buildBadModel, buildGridDetector } from '../test/support/models/build-model.ts';
import { createEngine, scanOnnx, type Engine } from './engine.ts';
import { createRegistry, type InstallFields, type ModelRegistry } from './registry.ts';
import type { Box, RgbFrame } from './types.ts';

/** A black frame with coloured rectangles (pixels). */
function frame(width: number, height: number, rects: { x: number; y: number; w: number; h: number; rgb: [number, number, number] }[]): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (const r of rects) for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) data.set(r.rgb, (y * width + x) * 3);
  return { width, height, data, ts: 0, mono: 0, seq: 0 };
}
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const RED: [number, number, number] = [255, 0, 0];
const round = (b: Box) => [b.x, b.y, b.w, b.h].map((v) => +v.toFixed(6));

let dir: string;
let reg: ModelRegistry;
let engine: Engine;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-engine-'));
  engine = createEngine({ threads: 1, log: silentLog(), models: (n) => reg.get(n), names: () => reg.list().map((m) => m.name) });
  reg = createRegistry({ dir, builtins: false, validate: (m, b) => engine.check(m, b) });
});
afterEach(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const fields = (name: string, extra: Partial<InstallFields> = {}): InstallFields => ({ name, task: 'detect', input: { width: 64, height: 64 }, ...extra });

describe('engine', () => {
  it('gives the same boxes for the yolov5 and yolov8 layouts, with metadata names', async () => {
    await reg.install(fields('v8'), buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }));
    await reg.install(fields('v5', { layout: 'yolov5' }), buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov5', names: true }));
    const f = frame(64, 64, [{ x: 32, y: 16, w: 16, h: 16, rgb: RED }, { x: 0, y: 48, w: 16, h: 16, rgb: [0, 255, 0] }]);
    const results = [];
    for (const name of ['v8', 'v5']) {
      const d = await engine.detector(name);
      expect(d.classes).toEqual(['person', 'car']);
      const dets = await d.detect(f);
      results.push(dets.map((x) => ({ label: x.label, score: +x.score.toFixed(4), box: round(x.box) })));
    }
    expect(results[0]).toEqual([
      { label: 'person', score: 1, box: [0.5, 0.25, 0.25, 0.25] },
      { label: 'car', score: 1, box: [0, 0.75, 0.25, 0.25] },
    ]);
    expect(results[1]).toEqual(results[0]);
  });

  it('undoes the letterbox of a non-square frame exactly', async () => {
    await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8', names: true }));
    // 128x64 -> 64x32 in the input, 16 rows of pad above; input cell (2,1) is frame x 64..96, y 0..32.
    const f = frame(128, 64, [{ x: 64, y: 0, w: 32, h: 32, rgb: RED }]);
    const dets = await (await engine.detector('grid')).detect(f);
    expect(dets.map((d) => [d.label, +d.score.toFixed(4), ...round(d.box)])).toEqual([['person', 1, 0.5, 0, 0.25, 0.5]]);
  });

  it('applies per-class thresholds; config classes override the manifest and metadata', async () => {
    await reg.install(fields('grid', { classes: ['walker', 'vehicle'] }), buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }));
    const f = frame(64, 64, [{ x: 0, y: 0, w: 16, h: 16, rgb: [153, 0, 0] }, { x: 16, y: 0, w: 16, h: 16, rgb: [0, 230, 0] }]);
    const d = await engine.detector('grid');
    expect(d.classes).toEqual(['walker', 'vehicle']); // manifest beats metadata
    const labels = async (t?: Record<string, number>) => (await d.detect(f, undefined, t)).map((x) => `${x.label}:${x.score.toFixed(2)}`);
    expect(await labels()).toEqual(['vehicle:0.90', 'walker:0.60']);
    expect(await labels({ walker: 0.7 })).toEqual(['vehicle:0.90']);
    expect(await labels({ vehicle: 0.95, default: 0.5 })).toEqual(['walker:0.60']);
    expect(await labels({ default: 0.95 })).toEqual([]);
    const o = await engine.detector('grid', { classes: ['a', 'b'] });
    expect((await o.detect(f)).map((x) => x.label)).toEqual(['b', 'a']);
  });

  it('names classes class<N> when nothing names them', async () => {
    await reg.install(fields('anon'), buildGridDetector({ size: 64, grid: 4, classes: ['x', 'y', 'z'], layout: 'yolov5' }));
    expect((await engine.detector('anon')).classes).toEqual(['class0', 'class1', 'class2']);
  });

  it('crops regions, maps them back to the frame and runs NMS across regions', async () => {
    await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    const f = frame(128, 128, [{ x: 64, y: 32, w: 32, h: 32, rgb: RED }]);
    const d = await engine.detector('grid');
    // Whole frame (scaled 1/2): one cell.
    expect((await d.detect(f)).map((x) => round(x.box))).toEqual([[0.5, 0.25, 0.25, 0.25]]);
    // Region 64x64 at (64,32): copied 1:1, the square covers 4 cells of 16 px.
    const region = { x: 0.5, y: 0.25, w: 0.5, h: 0.5 };
    const one = (await d.detect(f, [region])).map((x) => round(x.box)).sort();
    const px = (x: number, y: number) => [x / 128, y / 128, 16 / 128, 16 / 128].map((v) => +v.toFixed(6));
    expect(one).toEqual([px(64, 32), px(64, 48), px(80, 32), px(80, 48)].sort());
    // A second region overlapping the first finds the same four boxes: NMS keeps one of each.
    const two = (await d.detect(f, [region, { x: 0.375, y: 0.25, w: 0.5, h: 0.5 }])).map((x) => round(x.box)).sort();
    expect(two).toEqual(one);
    const s = engine.stats().find((x) => x.model === 'grid')!;
    expect(s).toMatchObject({ loaded: true, runs: 4, errors: 0 });
    expect(s.latencyP50Ms).toBeGreaterThan(0);
    expect(s.latencyP95Ms).toBeGreaterThanOrEqual(s.latencyP50Ms!);
    expect(s.fps).toBeCloseTo(0.4, 5); // 4 runs in the last 10 s
  });

  it('shares one session per model file between callers', async () => {
    await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    const info = reg.get('grid')!;
    const [a, b] = await Promise.all([engine.session(info), engine.session(info)]);
    expect(a).toBe(b);
    await engine.detector('grid');
    expect(await engine.session(info)).toBe(a);
  });

  it('refuses models of the wrong shapes at install, naming the shapes', async () => {
    await expect(reg.install(fields('wi'), buildBadModel('wrong-input'))).rejects.toThrow('model "wi": input [1,64,64,3] is not [1,3,H,W] (NCHW RGB)');
    await expect(reg.install(fields('wo'), buildBadModel('wrong-output'))).rejects.toThrow('model "wo": output [1,96] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N] for 2 classes');
    const three = fields('c3', { classes: ['a', 'b', 'c'] });
    await expect(reg.install(three, buildGridDetector({ size: 64, grid: 4, classes: ['a'], layout: 'yolov8' }))).rejects.toThrow(
      'model "c3": output [1,5,16] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N] for 3 classes',
    );
    expect(reg.list()).toEqual([]);
  });

  it('a wrong-shaped, truncated or garbage file on disk is a clear error naming the file; the engine goes on', async () => {
    await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    // Written behind the registry's back (as a bad copy or a disk fault would): manifest + file.
    const put = (name: string, bytes: Uint8Array) => {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, `${name}.onnx`), bytes);
      writeFileSync(path.join(dir, name, 'manifest.json'), JSON.stringify({ ...fields(name), file: `${name}.onnx`, sha256: sha256(bytes) }));
      reg.refresh();
      return reg.get(name)!;
    };
    const bytes = readFileSync(reg.get('grid')!.path);
    const truncated = put('cut', bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expect(engine.detector('cut')).rejects.toThrow(`model "cut" (${truncated.path}): not a valid ONNX file (truncated`);
    const garbage = put('junk', new Uint8Array(4096).map((_, i) => (i * 7919 + 13) % 251));
    await expect(engine.detector('junk')).rejects.toThrow(`model "junk" (${garbage.path}): not a valid ONNX file`);
    put('wrongout', buildBadModel('wrong-output'));
    await expect(engine.detector('wrongout')).rejects.toThrow('model "wrongout": output [1,96] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N] for 2 classes');
    put('wrongin', buildBadModel('wrong-input'));
    await expect(engine.detector('wrongin')).rejects.toThrow('model "wrongin": input [1,64,64,3] is not [1,3,H,W] (NCHW RGB)');
    await expect(engine.detector('nope')).rejects.toThrow('model "nope" is not installed');
    expect(engine.stats().find((s) => s.model === 'cut')).toMatchObject({ loaded: false, error: expect.stringContaining('not a valid ONNX file') });
    // The good model still runs.
    expect(await (await engine.detector('grid')).detect(frame(64, 64, [{ x: 0, y: 0, w: 16, h: 16, rgb: RED }]))).toHaveLength(1);
  });

  it('refuses a file whose sha256 differs from its manifest', async () => {
    const info = await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    const bytes = readFileSync(info.path);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(info.path, bytes);
    await expect(engine.detector('grid')).rejects.toThrow(/model "grid" \(.*grid-[0-9a-f]{12}\.onnx\): sha256 mismatch: the manifest says [0-9a-f]{12}…, the file is [0-9a-f]{12}…/);
    expect(await reg.verify('grid')).toMatchObject({ ok: false, expected: info.sha256 });
  });

  it('runs concurrent detections on one detector without mixing their inputs', async () => {
    await reg.install(fields('grid'), buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    const d = await engine.detector('grid');
    const frames = [0, 1, 2, 3].map((i) => frame(64, 64, [{ x: i * 16, y: i * 16, w: 16, h: 16, rgb: RED }]));
    const all = await Promise.all(frames.map((f) => d.detect(f)));
    expect(all.map((dets) => dets.map((x) => round(x.box)))).toEqual([0, 1, 2, 3].map((i) => [[i / 4, i / 4, 0.25, 0.25]]));
  });

  it('loads the built-in PaddleOCR models (dynamic input sizes) as shared sessions', async () => {
    const ocr = createRegistry({ dir });
    const e = createEngine({ threads: 1, log: silentLog(), models: (n) => ocr.get(n) });
    try {
      const det = await e.session(ocr.get('ppocr-det')!);
      const rec = await e.session(ocr.get('ppocr-rec')!);
      expect(det.inputMetadata[0]).toMatchObject({ shape: [expect.any(String), 3, expect.any(String), expect.any(String)] });
      expect(rec.inputMetadata[0]).toMatchObject({ shape: [expect.any(String), 3, 48, expect.any(String)] });
      expect(await e.session(ocr.get('ppocr-rec')!)).toBe(rec);
      await expect(e.detector('ppocr-det')).rejects.toThrow('model "ppocr-det" is an ocr-det model (task ocr-det), not a detector');
      expect(e.stats().map((s) => [s.model, s.loaded])).toEqual([['ppocr-det', true], ['ppocr-rec', true]]);
    } finally {
      await e.close();
    }
  });

  it('reads metadata and tells ONNX from other bytes without onnxruntime', () => {
    const m = scanOnnx(buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }));
    expect(m).toEqual({ metadata: { names: "{0: 'person', 1: 'car'}" } });
    expect(scanOnnx(new TextEncoder().encode('{"not": "onnx"}'))).toHaveProperty('error');
  });
});
