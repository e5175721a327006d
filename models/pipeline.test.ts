// The per-camera pipeline on real ffmpeg-decoded video: inference gating (nothing on a static
// scene, regions around the moving object, periodic full frames while tracks live), tracking,
// a line crossing, zone enter/exit, the `video.track` summary with its colour, readings at most
// once a second, detector errors contained, plates, and motion-only falling objects.
//
// The detector here is a small stand-in that finds red pixels in the frame it is given (inside
// the regions it is asked about) and counts its calls: the real onnxruntime YOLO detector is
// built by another helper and its path through this pipeline is covered by the integration test
// after merge. The same goes for the TextReader stand-in (PaddleOCR arrives at merge).
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { clipFrames } from '../test/support/video/clips.ts';
import { containsPoint } from './geometry.ts';
import { createPipeline, motionRegions } from './pipeline.ts';
import type { AnalyticEvent, Box, CameraAnalyticsConfig, Detection, Detector, FrameResult, RgbFrame, TextReader } from './types.ts';

function redDetector(opts: { failOn?: number[] } = {}) {
  const calls: { seq: number; mono: number; regions?: Box[] }[] = [];
  const d: Detector = {
    model: 'red-finder',
    classes: ['person', 'bicycle', 'car'],
    async detect(frame, regions) {
      calls.push({ seq: frame.seq, mono: frame.mono, regions: regions?.map((r) => ({ ...r })) });
      if (opts.failOn?.includes(calls.length)) throw new Error('session run failed: out of memory');
      const { width: W, height: H, data } = frame;
      let x0 = W, y0 = H, x1 = -1, y1 = -1, n = 0;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = (y * W + x) * 3;
          if (!(data[p] > 150 && data[p + 1] < 90 && data[p + 2] < 90)) continue;
          const pt: [number, number] = [(x + 0.5) / W, (y + 0.5) / H];
          if (regions && !regions.some((r) => containsPoint(r, pt))) continue;
          n++;
          x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
        }
      }
      if (n < 20) return [];
      return [{ label: 'car', classId: 2, score: 0.9, box: { x: x0 / W, y: y0 / H, w: (x1 + 1 - x0) / W, h: (y1 + 1 - y0) / H } }];
    },
  };
  return { d, calls };
}

const cfg = (over: Partial<CameraAnalyticsConfig> = {}): CameraAnalyticsConfig => ({
  thresholds: { default: 0.5 }, motion: { threshold: 25, minArea: 0.002, fullFrameEverySeconds: 0.5 },
  zones: [], lines: [], structuring: true, trackTimeoutSeconds: 1, ...over,
});

// 5 s at 10 fps, 320×240: empty street until 1 s; a red 30×20 "car" drives right from 1 s to
// 3 s (x = 20 + 120 (t − 1) px, y = 150 px) and is gone after; then the street is static again.
let carFrames: Promise<RgbFrame[]> | undefined;
const car = () => (carFrames ??= clipFrames({ seconds: 5, shapes: [{ w: 30, h: 20, color: 'red', x: '20+120*(t-1)', y: 150, from: 1, until: 3 }] }));
const carBox = (t: number): Box => ({ x: (20 + 120 * (t - 1)) / 320, y: 150 / 240, w: 30 / 320, h: 20 / 240 });

async function runAll(p: ReturnType<typeof createPipeline>, frames: RgbFrame[]): Promise<FrameResult[]> {
  const out: FrameResult[] = [];
  for (const f of frames) out.push(await p.process(f));
  return out;
}
const types = (ev: AnalyticEvent[]) => ev.map((e) => e.type);

describe('pipeline', () => {
  test('the detector runs only where it moved, full frames while a track lives, never on a static scene', async () => {
    const frames = await car();
    const { d, calls } = redDetector();
    const p = createPipeline('cam1', cfg({
      lines: [{ name: 'mid', from: [0.5, 0.3], to: [0.5, 1], directions: ['northbound', 'southbound'] }],
      zones: [{ name: 'right', polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] }],
    }), { detector: d });
    const results = await runAll(p, frames);

    // Static street before the car: no inference at all.
    expect(calls.filter((c) => c.mono < 1000)).toEqual([]);
    // While the car moves: regions (not the whole frame), each call's regions contain the car.
    const moving = calls.filter((c) => c.mono >= 1100 && c.mono <= 2900);
    expect(moving.length).toBeGreaterThanOrEqual(15);
    for (const c of moving.filter((cc) => cc.regions)) {
      const b = carBox(c.mono / 1000);
      expect(c.regions!.some((r) => containsPoint(r, [b.x + 0.001, b.y + 0.001]) && containsPoint(r, [b.x + b.w - 0.001, b.y + b.h - 0.001]))).toBe(true);
      for (const r of c.regions!) expect(r.w * r.h).toBeLessThan(0.6);
    }
    expect(moving.filter((c) => c.regions).length).toBeGreaterThan(moving.length / 2);
    // Whole-frame calls: only while the track lives, at most every 0.5 s.
    const full = calls.filter((c) => !c.regions).map((c) => c.mono);
    expect(full.length).toBeGreaterThan(0);
    for (let i = 1; i < full.length; i++) expect(full[i] - full[i - 1]).toBeGreaterThanOrEqual(500);
    // After the track ended (1 s after the car left at 3 s), the static street costs nothing.
    const trackEnd = results.find((r) => types(r.events).includes('video.track'))!;
    expect(trackEnd.frame.mono).toBeGreaterThan(3000);
    expect(trackEnd.frame.mono).toBeLessThanOrEqual(4300);
    expect(calls.filter((c) => c.mono > trackEnd.frame.mono)).toEqual([]);
    expect(p.stats()).toMatchObject({ frames: 50, inferences: calls.length });
    expect(results.filter((r) => r.inferred).length).toBe(calls.length);

    // One track through it all, one crossing: side A of a downward line is x > 0.5 (its
    // left-hand side walking from→to), so driving east is B→A, `directions[1]`.
    const ids = new Set(results.flatMap((r) => r.tracks.map((t) => t.id)));
    expect([...ids]).toEqual([1]);
    const events = results.flatMap((r) => r.events);
    expect(events.filter((e) => e.type === 'video.line_cross').map((e) => [e.data.line, e.data.direction, e.data.track])).toEqual([['mid', 'southbound', 1]]);
    expect(events.filter((e) => e.type.startsWith('video.zone')).map((e) => [e.type, e.data.zone, e.data.reason])).toEqual([
      ['video.zone_enter', 'right', undefined], ['video.zone_exit', 'right', 'lost'],
    ]);
    const summary = events.find((e) => e.type === 'video.track')!;
    expect(summary.data).toMatchObject({ track: 1, label: 'car', colour: 'red', zones: ['right'], lines: [{ line: 'mid', direction: 'southbound' }] });
    expect((summary.data.path as { direction: string }).direction).toBe('east');
    expect(summary.data.firstSeen).toBeGreaterThanOrEqual(frames[10].ts);
    expect(summary.data.seconds).toBeGreaterThan(1.5);
    expect(p.close()).toEqual([]);

    // Readings: fps and motion once a second, zone and line counts with them.
    const readings = results.flatMap((r) => r.readings.map((x) => ({ ...x, mono: r.frame.mono })));
    const fps = readings.filter((r) => r.point === 'fps');
    expect(fps.map((r) => r.mono)).toEqual([1000, 2000, 3000, 4000]);
    for (const r of fps) expect(r.value).toBe(10);
    // The car shows from frame 10 (t = 1.0) to frame 30 (t = 3.0).
    expect(readings.filter((r) => r.point === 'motion').map((r) => r.value > 0)).toEqual([true, true, true, false]);
    expect(readings.filter((r) => r.point === 'line.mid.southbound').map((r) => r.value)).toEqual([0, 0, 1, 1]);
    // The zone reports `car` from the car's entry (~2.05 s) on; the track ends at 4.1 s.
    expect(readings.filter((r) => r.point === 'zone.right.car').map((r) => [r.mono, r.value])).toEqual([[3000, 1], [4000, 1]]);
    // Frame results hold snapshots: the car's box moves right frame after frame.
    const xs = results.slice(12, 28).map((r) => r.tracks[0].box.x);
    for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThan(xs[i - 1]);
  });

  test('close() ends live tracks with their summaries', async () => {
    const frames = (await car()).slice(0, 20);
    const { d } = redDetector();
    const p = createPipeline('cam1', cfg(), { detector: d });
    await runAll(p, frames);
    const ev = p.close();
    expect(types(ev)).toEqual(['video.track']);
    expect(ev[0].data).toMatchObject({ track: 1, label: 'car', colour: 'red' });
  });

  test('detector errors: no detections, no throw, one warning logged', async () => {
    const frames = (await car()).slice(0, 25);
    const { d, calls } = redDetector({ failOn: [2, 3] });
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    const p = createPipeline('cam7', cfg(), { detector: d, log });
    const results = await runAll(p, frames);
    const failed = results.filter((r) => calls.slice(1, 3).some((c) => c.seq === r.frame.seq));
    expect(failed.length).toBe(2);
    for (const r of failed) expect([r.inferred, r.detections]).toEqual([false, []]);
    expect(lines.length).toBe(1); // the second failure within a minute is counted, not logged
    expect(JSON.parse(lines[0])).toMatchObject({ camera: 'cam7', err: 'session run failed: out of memory', msg: expect.stringContaining('detector "red-finder" failed') });
    expect(results.at(-1)!.tracks.length).toBe(1);
  });

  test('plates on vehicles: at most one read per track per second, each text once', async () => {
    const frames = (await car()).slice(0, 30);
    const { d } = redDetector();
    const reads: number[] = [];
    const text: TextReader = {
      async read(frame, region) {
        reads.push(frame.mono);
        return region ? [{ text: 'AB 123', confidence: 0.8, box: region }, { text: 'X', confidence: 0.3, box: region }] : [];
      },
    };
    const p = createPipeline('cam1', cfg({ plates: { on: 'vehicles' } }), { detector: d, text });
    const ev = (await runAll(p, frames)).flatMap((r) => r.events).filter((e) => e.type === 'video.plate');
    expect(ev.map((e) => [e.data.text, e.data.track, e.data.label])).toEqual([['AB 123', 1, 'car']]);
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < reads.length; i++) expect(reads[i] - reads[i - 1]).toBeGreaterThanOrEqual(1000);
  });

  test('motion only (no detector): falling objects, no inference', async () => {
    const frames = await clipFrames({
      rects: [{ x: 60, y: 10, w: 200, h: 220, color: '0x808080' }],
      shapes: [{ w: 10, h: 10, color: 'white', x: 150, y: '20+50*pow(max(t-0.5,0),2)', from: 0.3 }],
    });
    const p = createPipeline('cam1', cfg({ falling: { region: [[0.1875, 0.04], [0.8125, 0.04], [0.8125, 0.96], [0.1875, 0.96]] } }), {});
    const results = await runAll(p, frames);
    expect(results.flatMap((r) => types(r.events))).toEqual(['video.fall']);
    expect(results.every((r) => !r.inferred && r.tracks.length === 0)).toBe(true);
    expect(p.stats().inferences).toBe(0);
    // The 10×10 px object is below motion.minArea: no motion boxes, but the blobs saw it.
    expect(p.stats().motionFrames).toBe(0);
    expect(results.some((r) => r.motion > 0)).toBe(true);
  });
});

describe('motionRegions', () => {
  test('square in pixels with a minimum side; close boxes merge; too many → whole frame', () => {
    const [r] = motionRegions([{ x: 0.5, y: 0.5, w: 0.02, h: 0.02 }], 640, 360)!;
    expect(r.w * 640).toBeCloseTo(120, 9);
    expect(r.h * 360).toBeCloseTo(120, 9);
    expect(motionRegions([{ x: 0.5, y: 0.5, w: 0.02, h: 0.02 }, { x: 0.55, y: 0.5, w: 0.02, h: 0.02 }], 640, 360)!.length).toBe(1);
    const spread = [0.05, 0.3, 0.55, 0.8].flatMap((x) => [0.1, 0.7].map((y) => ({ x, y, w: 0.02, h: 0.02 })));
    expect(motionRegions(spread, 640, 360)).toBeUndefined();
  });
});
