// The devices service: every configured device of every driver family, behind the one Service
// contract. It creates each driver through the registry (lazy: a family's code loads only when
// one of its devices is configured), starts them each in their own try/catch, watches liveness
// and data quality, serves device writes (the `write` command and flows), reports the `devices`
// health section and describes every device's points in the birth message. A new config
// (live reconfiguration) starts, stops or restarts exactly the devices added, removed or edited;
// the others keep running with their liveness and quality state (each device has its own).
import type { WaysideConfig } from '../runtime/config/index.ts';
import type { DriverRegistry, PointInfo } from '../runtime/drivers.ts';
import { WriteError } from '../runtime/errors.ts';
import { createLiveness, type Liveness } from '../runtime/liveness.ts';
import { createQuality, type Quality } from '../runtime/quality.ts';
import { deviceChanges } from '../runtime/reconfigure.ts';
import type { Service, ServiceCtx } from '../runtime/service.ts';
import type { Bus, DeviceHealth, DeviceSnapshot, Driver, Log } from '../runtime/types.ts';

type DeviceConfig = WaysideConfig['devices'][number];

interface Entry {
  config: DeviceConfig;
  instance?: Driver;
  error?: string;
  points?: PointInfo[];
  liveness?: Liveness;
  quality?: Quality;
}

export interface DeviceInfo {
  id: string;
  driver: string;
  /** Undefined when the driver cannot tell its points in advance. */
  points?: PointInfo[];
}

export interface DevicesService extends Service {
  /** Writes a device point through its driver. Rejects with a WriteError. */
  write(device: string, point: string, value: unknown): Promise<void | Record<string, unknown>>;
  /** The configured (enabled) devices and their points. */
  list(): DeviceInfo[];
  /**
   * Reads a device's points now (Driver.readNow). Rejects with a WriteError-like typed error:
   * `unknown_device`, `not_supported` (the driver cannot be asked), `read_failed` (the device's reason).
   */
  readNow(device: string): Promise<void>;
  /** A camera's last frame and detections (Driver.snapshot); undefined when none or not a camera. */
  snapshot(device: string): Promise<DeviceSnapshot | undefined>;
}

/** How long each device may take to stop before the agent goes on without it. */
const STOP_MS = 1500;

export function createDevicesService(registry: DriverRegistry): DevicesService {
  const entries = new Map<string, Entry>();
  let log: Log | undefined;
  let sctx: ServiceCtx | undefined;

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
    if (e.liveness?.offline().includes(id) && h.state === 'online') h = { ...h, state: 'offline' };
    const faults = e.quality?.active(id) ?? [];
    if (faults.length) h = { ...h, quality: faults, state: h.state === 'online' ? 'degraded' : h.state };
    return h;
  };

  const list = (): DeviceInfo[] => [...entries.values()].map((e) => ({ id: e.config.id, driver: e.config.driver, ...(e.points ? { points: e.points } : {}) }));

  const write = async (device: string, point: string, value: unknown): Promise<void | Record<string, unknown>> => {
    const d = entries.get(device);
    if (!d) throw new WriteError('unknown_device', `unknown device "${device}"`);
    if (!d.instance) throw new WriteError('device_unavailable', `device "${device}" is not running: ${d.error ?? 'not started'}`);
    if (!d.instance.write) throw new WriteError('not_writable', `device "${device}" (driver ${d.config.driver}) has no writable points`);
    try {
      return await d.instance.write(point, value);
    } catch (err) {
      throw new WriteError('write_failed', `device "${device}" point "${point}": ${(err as Error).message ?? String(err)}`);
    }
    log?.info({ device, point, value }, 'point written');
  };

  const readNow = async (device: string): Promise<void> => {
    const e = entries.get(device);
    if (!e) throw new WriteError('unknown_device', `no device "${device}"`);
    if (!e.instance) throw new WriteError('read_failed', `device "${device}" is not running: ${e.error ?? 'not started'}`);
    if (!e.instance.readNow) throw new WriteError('not_supported', `device "${device}" (driver ${e.config.driver}) cannot be read on demand`);
    try {
      await e.instance.readNow();
    } catch (err) {
      const why = errorText(err);
      throw new WriteError('read_failed', why.includes(`"${device}"`) ? why : `device "${device}": ${why}`);
    }
  };

  /** Creates and starts one device with its own liveness and quality watch. Never throws. */
  const startDevice = async (ctx: ServiceCtx, device: DeviceConfig): Promise<void> => {
    const e: Entry = { config: device, points: describe(device) };
    entries.set(device.id, e);
    // Each device's watchers listen on the bus under their own owner, so one can go alone.
    const own = ownerBus(ctx.bus, device.id);
    const wctx = { ...ctx, bus: own };
    e.liveness = createLiveness(wctx, [{ id: device.id, offlineAfterMs: device.offlineAfter }]);
    e.quality = createQuality(wctx, Object.entries(device.perPoint).flatMap(([point, o]) => (o.checks ? [{ device: device.id, point, checks: o.checks }] : [])));
    e.liveness.start();
    e.quality.start();
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
  };

  /** Stops one device (bounded by STOP_MS) and its watchers, and forgets it. */
  const stopDevice = async (id: string): Promise<void> => {
    const e = entries.get(id);
    if (!e) return;
    entries.delete(id);
    await withTimeout(
      (async () => {
        try {
          await e.instance?.stop();
        } catch (err) {
          log?.warn({ device: id, err: errorText(err) }, 'device stop failed');
        }
      })(),
      STOP_MS,
    );
    e.liveness?.stop();
    e.quality?.stop();
  };

  return {
    name: 'devices',
    write,
    list,
    // The status page's "read now", the `read` command and doctor.
    readNow,
    snapshot: async (device) => entries.get(device)?.instance?.snapshot?.(),

    async start(ctx: ServiceCtx) {
      log = ctx.log;
      sctx = ctx;
      await Promise.all(ctx.config.devices.filter((d) => d.enabled).map((d) => startDevice(ctx, d)));
    },

    async stop() {
      await Promise.all([...entries.keys()].map((id) => stopDevice(id)));
    },

    async reconfigure(next) {
      const ctx = sctx;
      if (!ctx) return;
      const prev = [...entries.values()].map((e) => e.config);
      const diff = deviceChanges(prev, next.devices);
      const byId = new Map(next.devices.map((d) => [d.id, d]));
      // Stopped first: an edited device may take its port back at once.
      await Promise.all([...diff.removed, ...diff.changed].map((id) => stopDevice(id)));
      await Promise.all([...diff.added, ...diff.changed].map((id) => startDevice(ctx, byId.get(id)!)));
      const restarted = [...diff.added, ...diff.changed, ...diff.removed].map((id) => `device:${id}`);
      if (restarted.length) ctx.log.info({ added: diff.added, removed: diff.removed, restarted: diff.changed }, 'devices reconfigured');
      return { restarted };
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
        const result = await write(r.device, r.point, r.value);
        return { device: r.device, point: r.point, value: r.value, ...(result && typeof result === 'object' ? { result } : {}) };
      },
      read: async (req) => {
        const r = req as { device?: unknown } | undefined;
        if (typeof r?.device !== 'string') throw new WriteError('bad_request', 'read needs {"device": string}');
        await readNow(r.device);
        return { device: r.device, read: true };
      },
    }),

    birth: () => ({ devices: list() }),
  };
}

/** The bus, with listener owners suffixed by the device id (bus.off then removes only this device's). */
function ownerBus(bus: Bus, device: string): Bus {
  return {
    on: (type, owner, fn) => bus.on(type, `${owner}:${device}`, fn),
    emit: (type, msg) => bus.emit(type, msg),
    off: (owner) => bus.off(`${owner}:${device}`),
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
