// The `sim` family (a documented feature: `wayside demo`, load tests): schema and points now,
// the model on the first configured device.
import type { PointInfo } from '../../runtime/drivers.ts';
import { defineFamily } from '../common/family.ts';
import { UNITS } from './model.ts';
import { SIM_DESCRIPTION, simSchema, type SimConfig } from './schema.ts';

export function simPoints(d: Pick<SimConfig, 'points'>): PointInfo[] {
  return [...new Set(d.points)].map((name) => ({
    name, type: 'number', unit: UNITS[name], writable: name === 'lamp_level',
    ...(name === 'lamp_level' && { min: 0, max: 100, description: 'lamp dimming level; a write overrides the schedule until its next step' }),
  }));
}

export function simFamily() {
  return defineFamily({
    name: 'sim',
    description: SIM_DESCRIPTION,
    schema: simSchema,
    points: simPoints,
    async load() {
      const { createSimDriver } = await import('./index.ts');
      return (device, ctx) => createSimDriver(device, ctx);
    },
  });
}
