// The `camera` family: schema and points now; the implementation (ffmpeg children, sharp) on
// the first configured camera. The models service is looked up at create time through
// `deps.models()` (it may be absent: the camera then streams and reports, without analytics).
import type { PointInfo } from '../../runtime/drivers.ts';
import type { ModelsAccess } from '../../models/types.ts';
import { defineFamily } from '../common/family.ts';
import { CAMERA_DESCRIPTION, cameraIssues, cameraModelsConfig, cameraSchema, resolveSource, type CameraConfig } from './schema.ts';

/**
 * The readings a camera reports, as its config implies them: fps and frames_dropped (every
 * statsInterval while frames flow), motion, one count per zone and class, one count per line
 * and direction, and the sound levels when sound is on. Undefined when a zone counts "all the
 * model's classes" and the config names none (only the model knows them).
 */
export function cameraPoints(d: CameraConfig): PointInfo[] | undefined {
  const info = (name: string, unit: string | undefined, description: string, extra: Partial<PointInfo> = {}): PointInfo =>
    ({ name, type: 'number', writable: false, ...(unit !== undefined && { unit }), description, ...extra });
  const { analytics, audio } = cameraModelsConfig(d);
  const video = resolveSource(d).kind !== 'alsa';
  const out: PointInfo[] = [];
  if (video) {
    out.push(
      info('fps', 'fps', 'frames per second received from the camera', { min: 0 }),
      info('frames_dropped', undefined, 'frames skipped in the last stats interval because analysis was busy (latest frame wins)', { min: 0 }),
      info('motion', undefined, 'fraction of the image that moved', { min: 0, max: 1 }),
    );
    for (const z of analytics.zones) {
      const classes = z.classes ?? analytics.classes;
      if (!classes) return undefined;
      for (const c of classes) out.push(info(`zone.${z.name}.${c}`, undefined, `${c} objects in zone ${z.name}`, { min: 0 }));
    }
    for (const l of analytics.lines) {
      for (const dir of l.directions ?? ['in', 'out']) out.push(info(`line.${l.name}.${dir}`, undefined, `crossings of line ${l.name} going ${dir}`, { min: 0 }));
    }
  }
  if (audio) {
    out.push(
      info('sound.laeq', 'dB(A)', 'equivalent continuous sound level (A-weighted)'),
      info('sound.lamax', 'dB(A)', 'maximum sound level (A-weighted, fast)'),
    );
  }
  return out;
}

export function cameraFamily(deps: { models(): ModelsAccess | undefined }) {
  return defineFamily({
    name: 'camera',
    description: CAMERA_DESCRIPTION,
    schema: cameraSchema,
    check: cameraIssues,
    points: cameraPoints,
    async load() {
      const { createCameraDriver } = await import('./index.ts');
      return (device, ctx) => createCameraDriver(device, ctx, deps.models());
    },
  });
}
