// The driver contract (test/support/drivers/contract.ts) for the camera, against an HTTP MJPEG
// camera in its own process: start/stop/restart, write refusals, a frozen camera (SIGSTOP:
// degraded, then offline, device.fault raised and cleared) and a camera killed with SIGKILL and
// started again. Plus the stream events of such an outage: exactly one video.stream raise with
// the reason, one clear. The models service is a stand-in (test/support/camera/models.ts),
// tested on its own and end to end after the merge.
import { describe, expect, it } from 'vitest';
import type { ModelsAccess } from '../../models/types.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { startCameraProcess } from '../../test/support/camera/server-process.ts';
import { standInModels } from '../../test/support/camera/models.ts';
import { sleep, until } from '../../test/helpers/wait.ts';
import { cameraFamily } from './definition.ts';
import { cameraSchema } from './schema.ts';
import type { CameraDriver } from './index.ts';

const FIELDS = { fps: 5, width: 64, statsInterval: '500ms', stallTimeout: '600ms', timeout: '2s', lostAfter: '1s', reconnect: { min: '100ms', max: '500ms' } };

async function create(url: string, models: ModelsAccess | undefined) {
  const rec = recordingCtx();
  // Through the family definition the agent registers (lazy load, models looked up at create).
  const def = cameraFamily({ models: () => models });
  const driver = (await def.create({ id: 'dut', driver: 'camera', ...cameraSchema.parse({ source: url, ...FIELDS }) }, rec.ctx)) as CameraDriver;
  return { ...rec, driver };
}

driverContractSuite({
  family: 'camera',
  readOnlyPoint: 'fps',
  can: { silence: true, unplug: true },
  async rig() {
    const cam = await startCameraProcess();
    const { driver, readings, events } = await create(cam.url, standInModels());
    return {
      driver, readings, events,
      silence: (on) => cam.freeze(on),
      unplug: () => cam.kill9(),
      replug: () => cam.restart(),
      close: () => cam.close(),
    };
  },
});

describe('camera stream outage', () => {
  it('kill -9 of the camera mid-stream: degraded, then offline with one video.stream raise naming the reason; back: frames and one clear', async () => {
    const cam = await startCameraProcess();
    const models = standInModels();
    const { driver, events } = await create(cam.url, models);
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
      expect(driver.health().camera).toMatchObject({ stream: 'down', lastStreamError: { reason: 'unreachable' } });
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
