// A driver the test steers: it emits exactly the readings the test asks for. It is a real
// driver registered through the registry (not a mock of one): the agent creates, starts,
// stops and health-checks it like any other.
import { z } from 'zod';
import { defineDriver, type DriverDefinition } from '../../runtime/drivers.ts';
import type { Ctx, DeviceHealth } from '../../runtime/types.ts';

export interface TestDeviceHandle {
  emit(point: string, value: number | boolean | string, unit?: string): void;
  started: boolean;
}

export function testDriver(handles: Map<string, TestDeviceHandle>, opts: { failCreate?: string; failStart?: string } = {}): DriverDefinition {
  return defineDriver({
    name: 'test',
    description: 'a device steered by the test',
    schema: z.object({ note: z.string().optional() }).strict(),
    create(device, ctx: Ctx) {
      if (device.id === opts.failCreate) throw new Error(`test device ${device.id} refuses to be created`);
      let readings = 0;
      let last: number | undefined;
      const handle: TestDeviceHandle = {
        started: false,
        emit(point, value, unit) {
          last = ctx.clock.now();
          readings++;
          ctx.bus.emit('reading', { device: device.id, point, value, unit, quality: 'good', ts: last, clock: ctx.clock.flag() });
        },
      };
      handles.set(device.id, handle);
      return {
        async start() {
          if (device.id === opts.failStart) throw new Error(`test device ${device.id} fails to start`);
          handle.started = true;
        },
        async stop() {
          handle.started = false;
        },
        health(): DeviceHealth {
          return { device: device.id, driver: 'test', state: handle.started ? 'online' : 'stopped', errors: 0, readings, lastReadingTs: last };
        },
      };
    },
  });
}
