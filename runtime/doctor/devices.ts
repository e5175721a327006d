// Does each device answer? Through its own driver (never a copy of its protocol): create it with
// a ctx whose bus doctor listens on, start it, wait for its first reading or its first error
// within a bound, stop it. When the agent of this config runs, its health says instead (doctor
// then opens nothing the agent owns).
import { performance } from 'node:perf_hooks';
import type { DeviceConfig } from '../config/index.ts';
import type { DriverRegistry } from '../drivers.ts';
import { createBus } from '../bus.ts';
import { newId } from '../ids.ts';
import type { Clock, Ctx, DeviceHealth, Driver, Log, Reading } from '../types.ts';
import { errorText, seconds, withTimeout, type Outcome } from './check.ts';
import type { AgentHealthView } from './agent.ts';

const STOP_MS = 1500;
/** After the first reading, this long more to collect the rest of the poll (and its errors). */
const SETTLE_MS = 300;

const clock: Clock = {
  now: () => Date.now(),
  mono: () => performance.now(),
  trusted: () => true,
  flag: () => undefined,
};

/** The fix hint for a driver's fault kind (drivers/common/device-monitor.ts FaultKind). */
export function faultHint(kind: string | undefined, lastError?: string): string {
  switch (kind) {
    case 'timeout':
      return 'no answer: check the device has power, the wiring (RS-485 A/B swapped? termination?), its address, and that the baud rate, parity and stop bits in the config match the device';
    case 'crc':
      return 'garbled replies: the baud rate, parity or stop bits differ from the device\'s, or the line needs termination and biasing';
    case 'exception':
      return 'the device refused a request: a register or point it does not have (check the profile or points against its manual)';
    case 'protocol':
      return 'the replies do not parse as this protocol: is another kind of device at this port or address?';
    case 'config':
      return 'the device does not take this config: ' + (lastError ?? 'see the detail');
    case 'io':
      return 'the port or connection failed: check the cable, the adapter (dmesg | tail) or the host and port in the config';
    default:
      return 'look at the detail; `wayside run` logs each failure with its cause';
  }
}

/** The kind of the driver's most frequent fault, else the prefix of its last error ("timeout: ..."). */
export function faultKind(h: Pick<DeviceHealth, 'errorsByKind' | 'lastError'>): string | undefined {
  const byKind = Object.entries(h.errorsByKind ?? {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (byKind.length) return byKind[0][0];
  return /^([a-z]+): /.exec(h.lastError ?? '')?.[1];
}

function showReading(r: Reading): string {
  const v = typeof r.value === 'number' ? String(Math.round(r.value * 1000) / 1000) : JSON.stringify(r.value);
  return `${r.point}=${v}${r.unit ? ' ' + r.unit : ''}`;
}

/**
 * Creates the device's driver, starts it and waits up to `timeoutMs` for one reading or one
 * error; always stops it (bounded). Uses `readNow` when the driver has it.
 */
export async function probeDevice(registry: DriverRegistry, device: DeviceConfig, opts: { timeoutMs: number; log: Log }): Promise<Outcome> {
  const def = registry.get(device.driver);
  if (!def) return { status: 'fail', detail: `no driver "${device.driver}" in this build`, hint: 'check the driver name in the config (wayside check lists the known ones)' };
  const bus = createBus(opts.log);
  const readings: Reading[] = [];
  bus.on('reading', 'doctor', (r) => { if (r.device === device.id) readings.push(r); });
  const ctx: Ctx = { bus, log: opts.log, clock, newId };
  const end = performance.now() + opts.timeoutMs;
  let driver: Driver | undefined;
  try {
    driver = await withTimeout(Promise.resolve(def.create(device, ctx)), opts.timeoutMs, 'creating the driver');
    await withTimeout(driver.start(), Math.max(1, end - performance.now()), 'starting the driver');
    let readError: string | undefined;
    if (driver.readNow) driver.readNow().catch((err: unknown) => { readError = errorText(err); });
    const d = driver;
    const health = () => { try { return d.health(); } catch (err) { return { errors: 1, lastError: errorText(err) } as Partial<DeviceHealth>; } };
    let settleUntil: number | undefined;
    for (;;) {
      const now = performance.now();
      const h = health();
      if (readings.length && settleUntil === undefined) settleUntil = Math.min(end, now + SETTLE_MS);
      if (settleUntil !== undefined && now >= settleUntil) break;
      if (!readings.length && ((h.errors ?? 0) > 0 || readError)) break;
      if (now >= end) break;
      await sleep(50);
    }
    const h = health();
    if (readings.length) {
      const points = [...new Map(readings.map((r) => [r.point, r])).values()];
      const shown = points.slice(0, 3).map(showReading).join(', ') + (points.length > 3 ? `, ... (${points.length} points)` : '');
      if ((h.errors ?? 0) > 0 || readError) {
        const why = readError ?? h.lastError ?? 'an error';
        return { status: 'warn', detail: `answered (${shown}) but also failed: ${why}`, hint: faultHint(faultKind(h), why) };
      }
      return { status: 'pass', detail: `answered: ${shown}` };
    }
    if ((h.errors ?? 0) > 0 || readError) {
      const why = readError ?? h.lastError ?? 'failed';
      return { status: 'fail', detail: `no reading: ${why}`, hint: faultHint(faultKind(h), why) };
    }
    return {
      status: 'warn',
      detail: `no reading and no error within ${seconds(opts.timeoutMs)} (a slow device, long timeouts in its config, or one that reports seldom)`,
      hint: 'if it should answer at once, check its power, wiring, address and baud rate; a device that reports seldom (a LoRaWAN sensor, a slow stream) cannot be judged in this time: look at the agent\'s /healthz once it runs',
    };
  } catch (err) {
    return { status: 'fail', detail: errorText(err), hint: faultHint('io') };
  } finally {
    if (driver) await withTimeout(driver.stop(), STOP_MS, 'stopping the driver').catch(() => undefined);
    bus.off('doctor');
  }
}

/** A device's state as the running agent reports it. */
export function deviceFromAgent(id: string, health: AgentHealthView): Outcome {
  const h = health.devices?.find((d) => d.device === id);
  if (!h) return { status: 'warn', detail: 'the running agent does not report this device', hint: 'the agent runs another config (a deployed one?) or was started before the device was added: restart it' };
  const age = h.lastReadingTs !== undefined ? `, last reading ${Math.max(0, Math.round((Date.now() - h.lastReadingTs) / 1000))} s ago` : '';
  const base = `${h.state} in the running agent (${h.readings} readings, ${h.errors} errors${age})`;
  if (h.state === 'online') return { status: 'pass', detail: base };
  if (h.state === 'starting') return { status: 'warn', detail: `${base}: no answer yet`, hint: 'run doctor again in a minute' };
  const why = h.lastError ? `: ${h.lastError}` : '';
  return { status: h.state === 'offline' ? 'fail' : 'warn', detail: base + why, hint: faultHint(faultKind(h), h.lastError) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
