// Shared setup of the live DL/T 645 tests: a socat pty pair, the meter simulator on its `b`
// side, a fresh driver definition (own port registry, fast reopen), and a real bus and clock
// whose readings and events the test inspects.
import { createBus } from '../../../runtime/bus.ts';
import type { DriverDefinition } from '../../../runtime/drivers.ts';
import { silentLog } from '../../../runtime/log.ts';
import type { Clock, Ctx, Driver, Reading, WaysideEvent } from '../../../runtime/types.ts';
import { startPtyPair, type PtyPair } from '../../helpers/socat.ts';
import type { Dlt645Driver } from '../../../drivers/dlt645/driver.ts';
import { builtinDrivers } from '../../../drivers/index.ts';
import { dlt645Schema } from '../../../drivers/dlt645/index.ts';
import { createMeterSimulator, type MeterSimulator, type SimMeterSpec } from './simulator.ts';
import { clockIds } from '../../../runtime/ids.ts';

export const realClock = (): Clock => ({ now: () => Date.now(), mono: () => performance.now(), trusted: () => true, flag: () => undefined });

export { sleep, until } from '../../helpers/wait.ts';

/** Two meter addresses and the values the fault tests serve. */
export const A = '000000001234';
export const B = '000000005678';
export const VALUES = { energy_total: 1206.42, voltage_a: 220.1, current_a: -5.123, power_total: 1.2345, frequency: 50.01 };
export const POINTS = Object.keys(VALUES);

/** afterEach: undo any reply mangling and close the bus. */
export async function closeLive(live: Live | undefined): Promise<void> {
  live?.sim.setMangle(undefined);
  await live?.close();
}

export interface Live {
  pair: PtyPair;
  sim: MeterSimulator;
  def: DriverDefinition;
  ctx: Ctx;
  readings: Reading[];
  events: WaysideEvent[];
  /** Create and start a meter device on the pair (fast test timings and 19200 baud unless overridden). */
  meter(id: string, fields: Record<string, unknown>): Promise<Dlt645Driver>;
  /** Last reading of device/point. */
  last(device: string, point: string): Reading | undefined;
  close(): Promise<void>;
}

export async function startLive(meters: SimMeterSpec[], opts: { latencyMs?: number } = {}): Promise<Live> {
  const pair = await startPtyPair();
  const sim = createMeterSimulator({ path: pair.b, meters, preamble: 2, latencyMs: opts.latencyMs });
  await sim.start();
  const log = silentLog();
  const bus = createBus(log);
  const clock = realClock();
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const readings: Reading[] = [];
  const events: WaysideEvent[] = [];
  bus.on('reading', 'test', (r) => readings.push(r));
  bus.on('event', 'test', (e) => events.push(e));
  // Reopen no sooner than 300 ms: the socat helper removes the pty links only after socat has
  // exited, and a reopen through a stale link can land on a pty number the kernel hands out again.
  const def = builtinDrivers({ reopen: { minMs: 300, maxMs: 600 } }).find((d) => d.name === 'dlt645')!;
  const drivers: Driver[] = [];
  return {
    pair, sim, def, ctx, readings, events,
    async meter(id, fields) {
      const cfg = dlt645Schema.parse({ port: pair.a, baudRate: 19200, interval: '100ms', timeout: '150ms', gap: '2ms', maxBackoff: '1s', ...fields });
      const d = (await def.create({ id, driver: 'dlt645', ...cfg }, ctx)) as Dlt645Driver;
      drivers.push(d);
      await d.start();
      return d;
    },
    last: (device, point) => readings.filter((r) => r.device === device && r.point === point).at(-1),
    async close() {
      await Promise.all(drivers.map((d) => d.stop()));
      await sim.stop();
      await pair.stop();
    },
  };
}
