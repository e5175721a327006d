// The camera driver against real ffmpeg on real files: frames of the right size at about the
// configured fps, latest-frame-wins under a slow pipeline, sound, evidence ids in events, a
// missing file as a clear fault, a missing or failing models service, and no ffmpeg left
// running after stop(). The models service is a stand-in (test/support/camera/models.ts): it
// is tested on its own, and end to end with this driver after the merge.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelsAccess } from '../../models/types.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { standInModels } from '../../test/support/camera/models.ts';
import { sleep, until } from '../../test/helpers/wait.ts';
import { createCameraDriver, type CameraDriver } from './index.ts';
import { cameraSchema } from './schema.ts';

let dir: string;
let clip: string;
let clipWithSound: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-camera-'));
  clip = join(dir, 'clip.mp4');
  clipWithSound = join(dir, 'sound.mp4');
  const ff = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
  ff(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '10', clip]);
  ff(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000', '-t', '2',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '10', '-c:a', 'aac', '-shortest', clipWithSound]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function camera(fields: Record<string, unknown>, models: ModelsAccess | undefined) {
  const rec = recordingCtx();
  const cfg = { id: 'cam', driver: 'camera', ...cameraSchema.parse({ statsInterval: '500ms', reconnect: { min: '200ms', max: '1s' }, lostAfter: '800ms', ...fields }) };
  const driver: CameraDriver = createCameraDriver(cfg, rec.ctx, models);
  return { ...rec, driver };
}

describe('camera on a file', () => {
  it('decodes frames of the analysis size at about the configured fps; stop() leaves no ffmpeg', async () => {
    const models = standInModels();
    const { driver, readings } = camera({ source: `file:${clip}`, loop: true, fps: 5, width: 160 }, models);
    await driver.start();
    await until(() => driver.health().state === 'online', 10_000, 'online');
    const pids = driver.health().camera.pids;
    expect(pids).toHaveLength(1);
    expect(alive(pids[0])).toBe(true);
    await until(() => models.frames.length >= 3, 10_000, '3 frames');
    const t0 = performance.now();
    const n0 = driver.health().camera.frames;
    await sleep(2000);
    const rate = (driver.health().camera.frames - n0) / ((performance.now() - t0) / 1000);
    // 5 fps asked; -re paces the file at real time. Loose bounds: a shared CI machine.
    expect(rate).toBeGreaterThan(2.5);
    expect(rate).toBeLessThan(8);
    // 160 wide, the 4:3 aspect of the 320x240 source kept; every frame whole.
    expect(new Set(models.frames.map((f) => `${f.width}x${f.height}:${f.bytes}`))).toEqual(new Set([`160x120:${160 * 120 * 3}`]));
    expect(models.frames.map((f) => f.seq)).toEqual([...models.frames.keys()]);
    await until(() => readings.some((r) => r.point === 'fps'), 5000, 'an fps reading');
    const fps = readings.find((r) => r.point === 'fps')!;
    expect(fps).toMatchObject({ device: 'cam', unit: 'fps', quality: 'good' });
    expect(readings.some((r) => r.point === 'frames_dropped')).toBe(true);
    await driver.stop();
    expect(driver.health().state).toBe('stopped');
    expect(alive(pids[0])).toBe(false);
    expect(driver.health().camera.pids).toEqual([]);
    expect(models.closed).toBe(1);
    const n = readings.length;
    await sleep(700);
    expect(readings.length).toBe(n);
  });

  it('keeps the source size up to 640 wide by default and hands the analytics config to the pipeline', async () => {
    const models = standInModels();
    const { driver } = camera({ source: `file:${clip}`, loop: true, zones: [{ name: 'walk', polygon: [[0, 0], [1, 0], [1, 1]], dwell: '30s' }] }, models);
    await driver.start();
    await until(() => models.frames.length >= 2, 10_000, 'frames');
    await driver.stop();
    expect(models.frames[0]).toMatchObject({ width: 320, height: 240 });
    expect(models.configs[0].zones).toEqual([{ name: 'walk', polygon: [[0, 0], [1, 0], [1, 1]], dwellSeconds: 30 }]);
    expect(models.configs[0].motion).toEqual({ threshold: 25, minArea: 0.002, fullFrameEverySeconds: 1 });
  });

  it('snapshot: nothing before the first frame, then the last analysed frame as a JPEG of the analysis size, encoded once per frame', async () => {
    const models = standInModels();
    const { driver } = camera({ source: `file:${clip}`, loop: true, fps: 5, width: 160 }, models);
    expect(await driver.snapshot!()).toBeUndefined();
    await driver.start();
    await until(() => models.frames.length >= 2, 10_000, 'frames');
    const shot = (await driver.snapshot!())!;
    expect(shot).toMatchObject({ width: 160, height: 120, detections: [] });
    expect(Math.abs(shot.ts - Date.now())).toBeLessThan(10_000);
    const meta = await sharp(shot.jpeg).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 160, height: 120 });
    // testsrc2 is colourful: a real picture, not a blank buffer.
    const { channels } = await sharp(shot.jpeg).stats();
    expect(channels.some((c) => c.stdev > 10)).toBe(true);
    await driver.stop();
    // After the stop the last frame stays viewable, and asking again does not encode again.
    const again = (await driver.snapshot!())!;
    expect(again.jpeg).toBe((await driver.snapshot!())!.jpeg);
  });

  it('fits the model input when no size is given', async () => {
    const models = standInModels({ models: [{ name: 'tiny', task: 'detect', file: 'x.onnx', sha256: '0', input: { width: 128, height: 128 }, path: '/x.onnx', bytes: 1 }] });
    const { driver } = camera({ source: `file:${clip}`, loop: true, model: 'tiny' }, models);
    await driver.start();
    await until(() => models.frames.length >= 1, 10_000, 'a frame');
    await driver.stop();
    expect(models.frames[0]).toMatchObject({ width: 128, height: 96 });
  });

  it('latest frame wins: a slow pipeline gets one frame at a time, at most one waits, the rest are counted as dropped', async () => {
    const models = standInModels({ delayMs: 500 });
    const { driver, readings } = camera({ source: `file:${clip}`, loop: true, fps: 10, width: 64 }, models);
    await driver.start();
    await until(() => driver.health().camera.dropped >= 5, 15_000, '5 dropped frames');
    const h = driver.health().camera;
    await driver.stop();
    expect(models.maxConcurrent).toBe(1);
    expect(h.maxWaiting).toBe(1);
    expect(h.waiting).toBeLessThanOrEqual(1);
    // Every frame read is accounted for: analysed, dropped, or (at most two) waiting/in flight.
    const end = driver.health().camera;
    expect(end.frames - end.processed - end.dropped).toBeGreaterThanOrEqual(0);
    expect(end.frames - end.processed - end.dropped).toBeLessThanOrEqual(2);
    expect(end.dropped).toBeGreaterThan(end.processed);
    expect(readings.filter((r) => r.point === 'frames_dropped').some((r) => (r.value as number) > 0)).toBe(true);
  });

  it('emits the pipeline\'s events and readings, with an evidence id when evidence is on', async () => {
    const models = standInModels({
      script: (f) => f.seq === 2
        ? {
          events: [{ type: 'video.zone_enter', severity: 'info', data: { zone: 'walk', label: 'person', track: 1 }, evidence: { boxes: [{ label: 'person', classId: 0, score: 0.9, box: { x: 0.1, y: 0.1, w: 0.2, h: 0.5 } }] } }],
          readings: [{ point: 'zone.walk.person', value: 1 }],
        }
        : {},
    });
    const { driver, events, readings } = camera({ source: `file:${clip}`, loop: true, width: 64, evidence: { enabled: true } }, models);
    await driver.start();
    await until(() => events.some((e) => e.type === 'video.zone_enter'), 10_000, 'zone event');
    await driver.stop();
    const ev = events.find((e) => e.type === 'video.zone_enter')!;
    expect(ev).toMatchObject({ device: 'cam', severity: 'info', data: { zone: 'walk', label: 'person', track: 1, evidence: 'ev-2-0' } });
    expect(models.saved).toEqual([{ id: 'ev-2-0', labels: ['person'], camera: 'cam' }]);
    expect(readings.find((r) => r.point === 'zone.walk.person')).toMatchObject({ device: 'cam', value: 1, quality: 'good' });
    expect(driver.health().camera.evidence).toMatchObject({ saved: 1, failed: 0 });
  });

  it('decodes the sound track to mono PCM for the sound analyzer; its readings go on the bus', async () => {
    const models = standInModels();
    const { driver, readings } = camera({ source: `file:${clipWithSound}`, loop: true, width: 64, audio: { enabled: true, sampleRate: 16000 } }, models);
    await driver.start();
    await until(() => readings.some((r) => r.point === 'sound.laeq'), 10_000, 'a sound reading');
    const h = driver.health().camera;
    expect(h.pids).toHaveLength(2);
    await driver.stop();
    for (const pid of h.pids) expect(alive(pid)).toBe(false);
    expect(models.pcmBytes).toBeGreaterThan(0);
    // A full-scale-ish sine from lavfi (amplitude 1/8): about -21 dBFS, + 120 calibration.
    const laeq = readings.filter((r) => r.point === 'sound.laeq').at(-1)!.value as number;
    expect(laeq).toBeGreaterThan(90);
    expect(laeq).toBeLessThan(110);
    expect(h.audio).toMatchObject({ stream: 'up' });
  });
});

describe('camera faults', () => {
  it('a missing file: clear not_found fault, degraded then offline with one video.stream raise; start() does not throw', async () => {
    const models = standInModels();
    const { driver, events } = camera({ source: `file:${join(dir, 'nope.mp4')}` }, models);
    await driver.start();
    await until(() => driver.health().state === 'offline', 10_000, 'offline');
    const h = driver.health();
    expect(h.camera.lastStreamError).toEqual({ reason: 'not_found', message: expect.stringContaining('No such file or directory') });
    expect(h.lastError).toMatch(/^not_found: .*nope\.mp4/);
    await sleep(1000); // more reconnect attempts: still one raise
    const raises = events.filter((e) => e.type === 'video.stream' && e.state === 'raise');
    expect(raises).toHaveLength(1);
    expect(raises[0]).toMatchObject({ device: 'cam', severity: 'warning', data: { reason: 'not_found' } });
    expect(events.filter((e) => e.type === 'device.fault' && e.state === 'raise')).toEqual([expect.objectContaining({ data: expect.objectContaining({ driver: 'camera', kind: 'not_found' }) })]);
    expect(driver.health().camera.reconnects).toBeGreaterThanOrEqual(1);
    await driver.stop();
    expect(driver.health().state).toBe('stopped');
  });

  it('not a video: codec', async () => {
    const bad = join(dir, 'garbage.mp4');
    execFileSync('sh', ['-c', `echo not a video > ${bad}`]);
    const { driver } = camera({ source: `file:${bad}` }, standInModels());
    await driver.start();
    await until(() => driver.health().camera.lastStreamError !== undefined, 10_000, 'a stream error');
    await driver.stop();
    expect(driver.health().camera.lastStreamError?.reason).toBe('codec');
  });

  it('no models service: frames flow, the device is degraded and says why', async () => {
    const { driver, events } = camera({ source: `file:${clip}`, loop: true, width: 64 }, undefined);
    await driver.start();
    await until(() => driver.health().camera.frames >= 2, 10_000, 'frames');
    const h = driver.health();
    await driver.stop();
    expect(h.state).toBe('degraded');
    expect(h.lastError).toBe('the models service is not running (video analytics unavailable)');
    expect(events.filter((e) => e.type === 'device.error')).toEqual([expect.objectContaining({ data: expect.objectContaining({ driver: 'camera', kind: 'model' }) })]);
  });

  it('a model that fails to load: degraded, the error names the model', async () => {
    const models = standInModels({ failPipeline: 'model "yolo-x" is not installed (installed: none)' });
    const { driver } = camera({ source: `file:${clip}`, loop: true, width: 64, model: 'yolo-x' }, models);
    await driver.start();
    await until(() => driver.health().camera.frames >= 2, 10_000, 'frames');
    const h = driver.health();
    await driver.stop();
    expect(h.state).toBe('degraded');
    expect(h.lastError).toBe('model "yolo-x": model "yolo-x" is not installed (installed: none)');
    expect(h.camera.pipeline).toMatchObject({ ready: false });
  });

  it('no ffmpeg binary on the PATH: spawn fault, driver stays up', async () => {
    const rec = recordingCtx();
    const cfg = { id: 'cam', driver: 'camera', ...cameraSchema.parse({ source: `file:${clip}`, lostAfter: '500ms', reconnect: { min: '100ms', max: '200ms' } }) };
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const driver = createCameraDriver(cfg, rec.ctx, standInModels());
      await driver.start();
      await until(() => driver.health().camera.lastStreamError !== undefined, 5000, 'a stream error');
      process.env.PATH = path;
      expect(driver.health().camera.lastStreamError).toMatchObject({ reason: 'spawn', message: expect.stringContaining('ffmpeg not found') });
      await driver.stop();
    } finally {
      process.env.PATH = path;
    }
  });
});
