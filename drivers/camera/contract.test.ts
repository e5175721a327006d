// The driver contract (test/support/drivers/contract.ts) for the camera, against an HTTP MJPEG
// camera in its own process: start/stop/restart, write refusals, a frozen camera (SIGSTOP:
// degraded, then offline, device.fault raised and cleared) and a camera killed with SIGKILL and
// started again (its video.stream events: camera-http.test.ts). The models service is a stand-in (test/support/camera/models.ts),
// tested on its own and end to end after the merge.
import type { ModelsAccess } from '../../models/types.ts';
import { recordingCtx } from '../../test/support/drivers/ctx.ts';
import { driverContractSuite } from '../../test/support/drivers/contract.ts';
import { startCameraProcess } from '../../test/support/camera/server-process.ts';
import { standInModels } from '../../test/support/camera/models.ts';
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
