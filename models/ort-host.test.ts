// Sessions in worker threads: the model runs off the agent's thread (the event loop keeps
// turning during an inference), at a lower priority, with the same answers as in-thread.
import { readdirSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildMomentsDetector } from '../test/support/models/moments-model.ts';
import { createWorkerSession, INFERENCE_NICE } from './ort-host.ts';

/** Nice value of each thread of this process (field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): number[] {
  const out: number[] = [];
  for (const t of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      out.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

describe('ONNX Runtime sessions in worker threads', () => {
  const model = buildMomentsDetector({ size: 320, classes: ['person'], layout: 'yolov8', backbone: { layers: 6, channels: 32 } });
  const input = () => {
    const t = new Float32Array(3 * 320 * 320).fill(114 / 255);
    for (let y = 100; y < 140; y++) for (let x = 50; x < 70; x++) {
      t[y * 320 + x] = 1;
      t[320 * 320 + y * 320 + x] = 0;
      t[2 * 320 * 320 + y * 320 + x] = 0;
    }
    return t;
  };

  it('answers like an in-thread session, lends its input buffer and gets it back', async () => {
    const s = await createWorkerSession(model, { intraOpNumThreads: 1 });
    const local = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    try {
      const data = input();
      const want = await local.run({ images: new ort.Tensor('float32', data.slice(), [1, 3, 320, 320]) });
      const got = await s.run({ images: { type: 'float32', data, dims: [1, 3, 320, 320] } });
      expect(got.output0.dims).toEqual([...want.output0.dims]);
      expect(Array.from(got.output0.data as Float32Array)).toEqual(Array.from(want.output0.data as Float32Array));
      expect(Array.from(got.output0.data as Float32Array).slice(0, 4).map(Math.round)).toEqual([60, 120, 20, 40]);
      const lent = await s.runLending!({ images: { type: 'float32', data, dims: [1, 3, 320, 320] } });
      expect(data.length).toBe(0); // moved to the worker...
      expect((lent.inputs.images as Float32Array).length).toBe(3 * 320 * 320); // ...and back, intact
      expect((lent.inputs.images as Float32Array)[100 * 320 + 50]).toBe(1);
    } finally {
      await s.release();
      await local.release();
    }
  });

  it('keeps the event loop turning during inference, in a lower-priority thread', async () => {
    const s = await createWorkerSession(model, { intraOpNumThreads: 1 });
    try {
      expect(threadNices()).toContain(INFERENCE_NICE);
      let ticks = 0;
      const iv = setInterval(() => ticks++, 1);
      const t0 = performance.now();
      let runs = 0;
      while (performance.now() - t0 < 300) {
        await s.run({ images: { type: 'float32', data: input(), dims: [1, 3, 320, 320] } });
        runs++;
      }
      clearInterval(iv);
      // In-thread, each run would hold the loop for its whole duration: timers would fire about
      // once per run. Off-thread they fire many times per run.
      expect(ticks).toBeGreaterThan(runs * 3);
    } finally {
      await s.release();
    }
  });

  it('refuses a file that is not a model with onnxruntime\'s reason, and a released session stays released', async () => {
    await expect(createWorkerSession(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow(/protobuf|parse|load|invalid/i);
    const s = await createWorkerSession(model);
    await s.release();
    await expect(s.run({ images: { type: 'float32', data: input(), dims: [1, 3, 320, 320] } })).rejects.toThrow(/inference worker/);
  });
});
