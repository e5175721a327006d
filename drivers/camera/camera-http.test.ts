// The camera driver against HTTP cameras on 127.0.0.1: an MJPEG stream (multipart, decoded by
// real ffmpeg) and a snapshot URL (polled, decoded by real sharp), with HTTP Basic auth, and
// the faults a wrong password or a wrong path give, and an MJPEG camera process killed with
// SIGKILL mid-stream and started again. The models service is a stand-in
// (test/support/camera/models.ts), tested on its own and end to end after the merge.
import { afterEach, describe, expect, it } from 'vitest';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { mjpegServer, snapshotServer, type CameraServer } from '../../test/support/camera/servers.ts';
import { standInModels } from '../../test/support/camera/models.ts';
import { sleep, until } from '../../test/helpers/wait.ts';
import { startCameraProcess } from '../../test/support/camera/server-process.ts';
import { cameraFamily } from './definition.ts';
import { createCameraDriver, type CameraDriver } from './index.ts';
import { cameraSchema } from './schema.ts';

const open: { driver?: CameraDriver; server?: CameraServer }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.driver?.stop();
    await o.server?.close();
  }
});

function camera(fields: Record<string, unknown>) {
  const rec = recordingCtx();
  const models = standInModels();
  const cfg = { id: 'cam', driver: 'camera', ...cameraSchema.parse({ reconnect: { min: '200ms', max: '1s' }, lostAfter: '600ms', timeout: '2s', ...fields }) };
  const driver = createCameraDriver(cfg, rec.ctx, models);
  open.push({ driver });
  return { ...rec, driver, models };
}

const BASIC = `Basic ${Buffer.from('viewer:s3cret').toString('base64')}`;

describe('HTTP MJPEG camera', () => {
  it('decodes the multipart stream with credentials from the device fields', async () => {
    const server = await mjpegServer({ auth: { user: 'viewer', pass: 's3cret' }, fps: 10 });
    open.push({ server });
    const { driver, models } = camera({ source: server.url(), username: 'viewer', password: 's3cret', fps: 5 });
    await driver.start();
    await until(() => models.frames.length >= 3, 10_000, '3 frames');
    expect(models.frames[0]).toMatchObject({ width: 320, height: 240, bytes: 320 * 240 * 3 });
    expect(driver.health()).toMatchObject({ state: 'online', camera: { kind: 'mjpeg', stream: 'up', source: server.url() } });
    // ffmpeg sends the credentials once the server asks (401 with WWW-Authenticate).
    expect(server.requests.some((r) => r.authorization === BASIC)).toBe(true);
  });

  it('401: reason auth in health and in the video.stream event; the password is never shown', async () => {
    const server = await mjpegServer({ auth: { user: 'viewer', pass: 's3cret' } });
    open.push({ server });
    const { driver, events } = camera({ source: server.url(), username: 'viewer', password: 'wrong-pass' });
    await driver.start();
    await until(() => driver.health().state === 'offline', 10_000, 'offline');
    const h = driver.health();
    expect(h.camera.lastStreamError).toMatchObject({ reason: 'auth', message: expect.stringContaining('401') });
    const raise = events.find((e) => e.type === 'video.stream' && e.state === 'raise')!;
    expect(raise.data).toMatchObject({ reason: 'auth', error: expect.stringContaining('401') });
    expect(JSON.stringify({ h, events })).not.toContain('wrong-pass');
  });

  it('404: reason not_found', async () => {
    const server = await mjpegServer({ status: 404 });
    open.push({ server });
    const { driver, events } = camera({ source: server.url('/no-such-stream') });
    await driver.start();
    await until(() => events.some((e) => e.type === 'video.stream' && e.state === 'raise'), 10_000, 'video.stream raise');
    expect(driver.health().camera.lastStreamError).toMatchObject({ reason: 'not_found', message: expect.stringContaining('404') });
    expect(events.find((e) => e.type === 'video.stream')!.data).toMatchObject({ reason: 'not_found' });
  });

  it('a frozen camera (connection open, no frames) is restarted after the stall timeout', async () => {
    const server = await mjpegServer({ fps: 10 });
    open.push({ server });
    const { driver, models, events } = camera({ source: server.url(), stallTimeout: '600ms', lostAfter: '5s' });
    await driver.start();
    await until(() => models.frames.length >= 2, 10_000, 'frames');
    const pid = driver.health().camera.pids[0];
    server.pause(true);
    await until(() => driver.health().state === 'degraded', 10_000, 'degraded');
    expect(driver.health().camera.lastStreamError?.reason).toBe('stalled');
    server.pause(false);
    await until(() => driver.health().state === 'online' && driver.health().camera.pids[0] !== pid, 10_000, 'online on a new ffmpeg');
    // Back within lostAfter: no outage reported upstream.
    expect(events.filter((e) => e.type === 'video.stream')).toEqual([]);
  });
});

describe('HTTP snapshot camera', () => {
  it('polls the JPEG with Basic auth and decodes it to the analysis size', async () => {
    const server = await snapshotServer({ auth: { user: 'viewer', pass: 's3cret' } });
    open.push({ server });
    const { driver, models } = camera({ source: server.url(), sourceType: 'snapshot', username: 'viewer', password: 's3cret', fps: 4, width: 160 });
    await driver.start();
    await until(() => models.frames.length >= 3, 10_000, '3 frames');
    expect(models.frames[0]).toMatchObject({ width: 160, height: 120, bytes: 160 * 120 * 3 });
    expect(server.requests.every((r) => r.authorization === BASIC)).toBe(true);
    expect(driver.health()).toMatchObject({ state: 'online', camera: { kind: 'snapshot', pids: [] } });
  });

  it('a wrong password: one clear auth fault, then recovery when the camera accepts again', async () => {
    const server = await snapshotServer({ status: 401 });
    open.push({ server });
    const { driver, events, models } = camera({ source: server.url(), sourceType: 'snapshot', username: 'viewer', password: 'nope', fps: 4 });
    await driver.start();
    await until(() => driver.health().state === 'offline', 10_000, 'offline');
    expect(driver.health().camera.lastStreamError).toEqual({ reason: 'auth', message: `${server.url()}: HTTP 401 Unauthorized` });
    expect(driver.health().lastError).toBe(`auth: ${server.url()}: HTTP 401 Unauthorized`);
    server.setStatus(undefined);
    await until(() => driver.health().state === 'online', 10_000, 'online');
    expect(models.frames.length).toBeGreaterThan(0);
    const stream = events.filter((e) => e.type === 'video.stream').map((e) => [e.state, e.data.reason]);
    expect(stream).toEqual([['raise', 'auth'], ['clear', 'auth']]);
    expect(events.filter((e) => e.type === 'device.fault').map((e) => e.state)).toEqual(['raise', 'clear']);
  });

  it('an unreachable snapshot camera: unreachable', async () => {
    const server = await snapshotServer();
    const url = server.url();
    await server.close();
    const { driver } = camera({ source: url, sourceType: 'snapshot' });
    await driver.start();
    await until(() => driver.health().camera.lastStreamError !== undefined, 10_000, 'a stream error');
    expect(driver.health().camera.lastStreamError).toMatchObject({ reason: 'unreachable', message: expect.stringContaining('ECONNREFUSED') });
  });
});

describe('camera stream outage', () => {
  it('kill -9 of the camera mid-stream: degraded, then offline with one video.stream raise naming the reason; back: frames and one clear', async () => {
    const cam = await startCameraProcess();
    const models = standInModels();
    const rec = recordingCtx();
    const def = cameraFamily({ models: () => models });
    const fields = { fps: 5, width: 64, statsInterval: '500ms', stallTimeout: '600ms', timeout: '2s', lostAfter: '1s', reconnect: { min: '100ms', max: '500ms' } };
    const driver = (await def.create({ id: 'dut', driver: 'camera', ...cameraSchema.parse({ source: cam.url, ...fields }) }, rec.ctx)) as CameraDriver;
    const { events } = rec;
    try {
      await driver.start();
      await until(() => driver.health().state === 'online', 10_000, 'online');
      await cam.kill9();
      await until(() => driver.health().state === 'degraded', 10_000, 'degraded');
      await until(() => driver.health().state === 'offline', 10_000, 'offline');
      await sleep(800); // reconnect attempts go on while it is down: still one raise
      const raises = events.filter((e) => e.type === 'video.stream');
      expect(raises).toHaveLength(1);
      // The reconnects find nothing listening: the camera is unreachable.
      expect(raises[0]).toMatchObject({ device: 'dut', state: 'raise', severity: 'warning', data: { reason: 'unreachable', error: expect.stringMatching(/Connection refused/i) } });
      expect(driver.health().camera.stream).toBe('down');
      const before = models.frames.length;
      await cam.restart();
      await until(() => driver.health().state === 'online', 15_000, 'online again');
      await until(() => models.frames.length > before, 5000, 'frames again');
      const stream = events.filter((e) => e.type === 'video.stream');
      expect(stream.map((e) => e.state)).toEqual(['raise', 'clear']);
      expect(stream[1].data).toMatchObject({ recovered: true, reason: 'unreachable', downMs: expect.any(Number) });
      expect(events.filter((e) => e.type === 'device.fault').map((e) => [e.state, e.data.kind ?? 'recovered'])).toEqual([['raise', 'unreachable'], ['clear', 'recovered']]);
      expect(driver.health().camera.reconnects).toBeGreaterThanOrEqual(2);
    } finally {
      await driver.stop();
      await cam.close();
    }
  });
});
