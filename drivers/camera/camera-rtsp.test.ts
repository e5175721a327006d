// The camera driver on RTSP (interleaved TCP, the default transport): real ffmpeg on both
// sides, an RTSP server (test/support/camera/rtsp-server.ts) relaying real H.264 RTP. Frames
// arrive; a wrong password is an auth fault; the camera going away and coming back gives one
// video.stream raise (unreachable) and one clear. The models service is a stand-in
// (test/support/camera/models.ts), tested on its own and end to end after the merge.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { startRtspServer, type RtspServer } from '../../test/support/camera/rtsp-server.ts';
import { standInModels } from '../../test/support/camera/models.ts';
import { until } from '../../test/helpers/wait.ts';
import { createCameraDriver } from './index.ts';
import { cameraSchema } from './schema.ts';

let dir: string;
let server: RtspServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-rtsp-'));
  const clip = join(dir, 'clip.mp4');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '5', '-bf', '0', clip]);
  server = await startRtspServer({ clip, dir, auth: { user: 'viewer', pass: 's3cret' } });
}, 20_000);
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function camera(fields: Record<string, unknown>) {
  const rec = recordingCtx();
  const models = standInModels();
  const cfg = { id: 'cam', driver: 'camera', ...cameraSchema.parse({ fps: 5, reconnect: { min: '100ms', max: '500ms' }, lostAfter: '1s', timeout: '6s', stallTimeout: '1s', ...fields }) };
  return { ...rec, models, driver: createCameraDriver(cfg, rec.ctx, models) };
}

describe('RTSP camera', () => {
  it('frames arrive over interleaved TCP; kill the camera: offline with one video.stream raise; back: frames and one clear', async () => {
    const { driver, models, events } = camera({ source: server.url(), username: 'viewer', password: 's3cret' });
    try {
      await driver.start();
      await until(() => models.frames.length >= 3, 15_000, '3 frames');
      expect(models.frames[0]).toMatchObject({ width: 320, height: 240, bytes: 320 * 240 * 3 });
      expect(server.requests.some((r) => r.method === 'PLAY' && r.authorized)).toBe(true);
      expect(driver.health()).toMatchObject({ state: 'online', camera: { kind: 'rtsp', stream: 'up' } });
      await server.down();
      await until(() => driver.health().state === 'offline', 15_000, 'offline');
      const raises = events.filter((e) => e.type === 'video.stream');
      expect(raises).toEqual([expect.objectContaining({ state: 'raise', data: expect.objectContaining({ reason: 'unreachable', error: expect.stringMatching(/Connection refused/i) }) })]);
      const n = models.frames.length;
      await server.up();
      await until(() => models.frames.length > n && driver.health().state === 'online', 15_000, 'frames again');
      expect(events.filter((e) => e.type === 'video.stream').map((e) => e.state)).toEqual(['raise', 'clear']);
    } finally {
      await driver.stop();
    }
  });

  it('a wrong password: auth', async () => {
    const { driver, events } = camera({ source: server.url(), username: 'viewer', password: 'wrong' });
    try {
      await driver.start();
      await until(() => events.some((e) => e.type === 'video.stream'), 15_000, 'video.stream raise');
      expect(driver.health().camera.lastStreamError).toMatchObject({ reason: 'auth', message: expect.stringContaining('401') });
      expect(events.find((e) => e.type === 'video.stream')!.data).toMatchObject({ reason: 'auth' });
    } finally {
      await driver.stop();
    }
  });

  it('a wrong path: not_found', async () => {
    const { driver } = camera({ source: server.url('/nope'), username: 'viewer', password: 's3cret' });
    try {
      await driver.start();
      await until(() => driver.health().camera.lastStreamError !== undefined, 15_000, 'a stream error');
      expect(driver.health().camera.lastStreamError).toMatchObject({ reason: 'not_found', message: expect.stringContaining('404') });
    } finally {
      await driver.stop();
    }
  });
});
