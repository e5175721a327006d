// Driver registry. runtime/ knows no driver by name: each driver family registers a
// definition (its config schema and a factory). The config loader validates every
// device against its driver's schema; the agent creates drivers through here.
import type { z } from 'zod';
import type { Ctx, Driver } from './types.ts';

/** Device fields common to every driver, already validated and defaulted by runtime/config. */
export interface DeviceBase {
  id: string;
  driver: string;
}

export interface DriverDefinition<S extends z.ZodObject = z.ZodObject> {
  /** Name used in config: `driver: modbus`. */
  name: string;
  description: string;
  /** Driver-specific device fields (the common ones are added by runtime/config). */
  schema: S;
  /**
   * Checks across the driver's own fields that a field schema cannot express ("profile or
   * format, not both"). Run by the config loader, so `wayside check` reports them with
   * file:line; `path` is relative to the device.
   */
  check?(device: DeviceBase & z.infer<S>): DeviceIssue[];
  /**
   * Checks that span the family's devices (two devices with one address on one port, port
   * settings that disagree). `devices` are this family's enabled and disabled devices with their
   * index in the config's `devices` list; issue paths are relative to the device at `index`.
   */
  checkAll?(devices: { index: number; device: DeviceBase & z.infer<S> }[]): (DeviceIssue & { index: number })[];
  /**
   * The points a device has, when the driver knows them from its config or profile (the
   * birth message describes them; the loader refuses a perPoint entry or rule for a point that
   * is not there). Undefined = the driver cannot tell (any point name is accepted).
   */
  points?(device: DeviceBase & z.infer<S>): PointInfo[] | undefined;
  /**
   * The serial device paths a device opens (`wayside doctor` checks that each exists, can be
   * opened and is held by no other process). Absent or empty: the device has no serial port.
   */
  ports?(device: DeviceBase & z.infer<S>): string[];
  /**
   * May be async: built-in definitions import their implementation (and its serial-port
   * bindings) only when a device of that family is configured.
   */
  create(device: DeviceBase & z.infer<S>, ctx: Ctx): Driver | Promise<Driver>;
}

/** One point of a device as the platform and the flow editor see it (like zigbee2mqtt's `exposes`). */
export interface PointInfo {
  name: string;
  type: 'number' | 'boolean' | 'string';
  unit?: string;
  writable: boolean;
  /** Valid range, where the driver or profile knows it. */
  min?: number;
  max?: number;
  description?: string;
}

export interface DeviceIssue {
  path: (string | number)[];
  message: string;
}


export interface DriverRegistry {
  register(def: DriverDefinition): void;
  get(name: string): DriverDefinition | undefined;
  list(): DriverDefinition[];
  /**
   * Top-level config sections owned by the product's services (`models:`, `modbusServer:`),
   * each a zod schema that applies its own defaults (`.prefault({})` when the section may be
   * absent). The config loader adds them to the file's schema; services read them with
   * `configSection(config, name)`.
   */
  sections(): Record<string, z.ZodType>;
}

export interface RegistryOptions {
  sections?: Record<string, z.ZodType>;
}

export function createDriverRegistry(defs: DriverDefinition[] = [], opts: RegistryOptions = {}): DriverRegistry {
  const byName = new Map<string, DriverDefinition>();
  const sections = { ...opts.sections };
  const registry: DriverRegistry = {
    sections: () => sections,
    register(def) {
      if (byName.has(def.name)) throw new Error(`driver "${def.name}" registered twice`);
      byName.set(def.name, def);
    },
    get: (name) => byName.get(name),
    list: () => [...byName.values()],
    };
  for (const d of defs) registry.register(d);
  return registry;
}

const configDirs: string[] = [];

/**
 * Run `fn` (the synchronous parse of one config file) with the file's directory known to
 * driver fields that name files (profiles), so relative paths resolve against the config file,
 * never the working directory. The config loader wraps its schema parse in it.
 */
export function withConfigDir<T>(dir: string, fn: () => T): T {
  configDirs.push(dir);
  try {
    return fn();
  } finally {
    configDirs.pop();
  }
}

/** Directory of the config file being parsed; undefined outside a config parse. */
export function configDir(): string | undefined {
  return configDirs.at(-1);
}

/** Helper so a driver module can declare its definition with full type inference. */
export function defineDriver<S extends z.ZodObject>(def: DriverDefinition<S>): DriverDefinition {
  return def as unknown as DriverDefinition;
}
