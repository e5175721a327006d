// The devices service: every configured device of every driver family, behind the one Service
// contract. It creates each driver through the registry (lazy: a family's code loads only when
// one of its devices is configured), starts them each in their own try/catch, watches liveness
// and data quality, serves device writes (the `write` command and flows), reports the `devices`
// health section and describes every device's points in the birth message.
import type { WaysideConfig } from '../runtime/config/index.ts';
import type { DriverRegistry, PointInfo } from '../runtime/drivers.ts';
import { WriteError } from '../runtime/errors.ts';
import { createLiveness, type Liveness } from '../runtime/liveness.ts';
import { createQuality, type Quality } from '../runtime/quality.ts';
import type { Service, ServiceCtx } from '../runtime/service.ts';
import type { DeviceHealth, Driver, Log } from '../runtime/types.ts';

type DeviceConfig = WaysideConfig['devices'][number];

interface Entry {
  config: DeviceConfig;
  instance?: Driver;
  error?: string;
  points?: PointInfo[];
}

export interface DeviceInfo {
  id: string;
  driver: string;
  /** Undefined when the driver cannot tell its points in advance. */
  points?: PointInfo[];
}

export interface DevicesService extends Service {
  /** Writes a device point through its driver. Rejects with a WriteError. */
  write(device: string, point: string, value: unknown): Promise<void>;
  /** The configured (enabled) devices and their points. */
  list(): DeviceInfo[];
}

/** How long each device may take to stop before the agent goes on without it. */
const STOP_MS = 1500;

export function createDevicesService(registry: DriverRegistry): DevicesService {
  const entries = new Map<string, Entry>();
  let liveness: Liveness | undefined;
  let quality: Quality | undefined;
  let log: Log | undefined;

  const describe = (d: DeviceConfig): PointInfo[] | undefined => {
    try {
      return registry.get(d.driver)?.points?.(d);
    } catch {
      return undefined; // the loader already checked the device; a points() bug must not stop the agent
    }
  };

  const deviceHealth = (id: string, e: Entry): DeviceHealth => {
    let h: DeviceHealth;
    try {
      h = e.instance ? e.instance.health() : { device: id, driver: e.config.driver, state: 'offline', errors: 1, readings: 0, lastError: e.error };
    } catch (err) {
      h = { device: id, driver: e.config.driver, state: 'degraded', errors: 1, readings: 0, lastError: String(err) };
    }
    if (liveness?.offline().includes(id) && h.state === 'online') h = { ...h, state: 'offline' };
    const faults = quality?.active(id) ?? [];
    if (faults.length) h = { ...h, quality: faults, state: h.state === 'online' ? 'degraded' : h.state };
    return h;
  };

  const list = (): DeviceInfo[] => [...entries.values()].map((e) => ({ id: e.config.id, driver: e.config.driver, ...(e.points ? { points: e.points } : {}) }));

  const write = async (device: string, point: string, value: unknown): Promise<void> => {
    const d = entries.get(device);
    if (!d) throw new WriteError('unknown_device', `unknown device "${device}"`);
    if (!d.instance) throw new WriteError('device_unavailable', `device "${device}" is not running: ${d.error ?? 'not started'}`);
    if (!d.instance.write) throw new WriteError('not_writable', `device "${device}" (driver ${d.config.driver}) has no writable points`);
    try {
      await d.instance.write(point, value);
    } catch (err) {
      throw new WriteError('write_failed', `device "${device}" point "${point}": ${(err as Error).message ?? String(err)}`);
    }
    log?.info({ device, point, value }, 'point written');
  };

  return {
    name: 'devices',
    write,
    list,

    async start(ctx: ServiceCtx) {
      log = ctx.log;
      const devicesOn = ctx.config.devices.filter((d) => d.enabled);
      for (const d of devicesOn) entries.set(d.id, { config: d, points: describe(d) });
      liveness = createLiveness(ctx, devicesOn.map((d) => ({ id: d.id, offlineAfterMs: d.offlineAfter })));
      quality = createQuality(
        ctx,
        devicesOn.flatMap((d) => Object.entries(d.perPoint).flatMap(([point, o]) => (o.checks ? [{ device: d.id, point, checks: o.checks }] : []))),
      );
      liveness.start();
      quality.start();
      await Promise.all(
        [...entries.values()].map(async (e) => {
          const device = e.config;
          // The driver's logger names its family and device once; drivers add nothing of their own.
          const dlog = ctx.log.child({ mod: device.driver, device: device.id });
          try {
            const def = registry.get(device.driver);
            if (!def) throw new Error(`unknown driver "${device.driver}"`);
            e.instance = await def.create(device, { bus: ctx.bus, clock: ctx.clock, newId: ctx.newId, log: dlog, state: ctx.state.sub(device.id) });
          } catch (err) {
            e.error = errorText(err);
            dlog.error({ err: e.error }, 'device could not be created');
            return;
          }
          try {
            await e.instance.start();
          } catch (err) {
            e.error = errorText(err);
            dlog.error({ err: e.error }, 'device failed to start');
          }
        }),
      );
    },

    async stop() {
      await Promise.all(
        [...entries.entries()].map(([id, e]) =>
          withTimeout(
            (async () => {
              try {
                await e.instance?.stop();
              } catch (err) {
                log?.warn({ device: id, err: errorText(err) }, 'device stop failed');
              }
            })(),
            STOP_MS,
          ),
        ),
      );
      liveness?.stop();
      quality?.stop();
    },

    health() {
      const section = [...entries.entries()].map(([id, e]) => deviceHealth(id, e));
      const problems = section.filter((d) => d.state === 'offline' || d.state === 'degraded').map((d) => `device ${d.device} ${d.state}`);
      return { section, problems };
    },

    commands: () => ({
      write: async (req) => {
        const r = req as { device?: unknown; point?: unknown; value?: unknown } | undefined;
        if (typeof r?.device !== 'string' || typeof r.point !== 'string' || r.value === undefined) {
          throw new WriteError('bad_request', 'write needs {"device": string, "point": string, "value": ...}');
        }
        await write(r.device, r.point, r.value);
        return { device: r.device, point: r.point, value: r.value };
      },
    }),

    birth: () => ({ devices: list() }),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
