// One way to define a driver family. The definition carries what the config loader needs at
// once (schema, checks, points); the implementation module (sockets, serial bindings, codecs)
// is imported on the first create, so a gateway pays in memory only for the families it uses.
// Per-agent state shared across families (the half-duplex buses) lives in a DriverEnv.
import type { z } from 'zod';
import { defineDriver, type DeviceBase, type DeviceIssue, type DriverDefinition, type PointInfo } from '../../runtime/drivers.ts';
import type { Ctx, Driver } from '../../runtime/types.ts';
import type { BusRegistry, BusRegistryOptions } from './bus.ts';

/** What the families of one agent share: its serial and TCP buses, opened on first use. */
export interface DriverEnv {
  buses(): Promise<BusRegistry>;
}

export function createDriverEnv(opts: BusRegistryOptions = {}): DriverEnv {
  let buses: Promise<BusRegistry> | undefined;
  return { buses: () => (buses ??= import('./bus.ts').then((m) => m.createBusRegistry(opts))) };
}

type Device<S extends z.ZodObject> = DeviceBase & z.infer<S>;

export interface FamilySpec<S extends z.ZodObject> {
  name: string;
  description: string;
  schema: S;
  check?(device: Device<S>): DeviceIssue[];
  checkAll?(devices: { index: number; device: Device<S> }[]): (DeviceIssue & { index: number })[];
  points?(device: Device<S>): PointInfo[] | undefined;
  /** The serial device paths a device opens (DriverDefinition.ports). */
  ports?(device: Device<S>): string[];
  /**
   * Imports the implementation and returns the device factory; called once per definition,
   * on the first create (a failed import is retried on the next).
   */
  load(): Promise<(device: Device<S>, ctx: Ctx) => Driver | Promise<Driver>>;
}

export function defineFamily<S extends z.ZodObject>(spec: FamilySpec<S>): DriverDefinition {
  let factory: ReturnType<FamilySpec<S>['load']> | undefined;
  const { load, ...rest } = spec;
  return defineDriver<S>({
    ...rest,
    async create(device, ctx) {
      factory ??= load().catch((err) => {
        factory = undefined;
        throw err;
      });
      return (await factory)(device, ctx);
    },
  });
}
