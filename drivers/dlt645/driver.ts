// One DL/T 645 meter: a poll loop that reads the configured points through the shared port,
// turns replies into readings, and reports health through the shared device monitor.
//
// Link failures (silence, closed port) end the cycle at once, so a dead meter holds the bus
// for one timeout per attempt, and nextDelay() spaces the attempts out. An error reply means
// the meter is alive but refuses one point: the device stays online, the point gets its own
// device.point_fault event, and is asked less often while it keeps refusing.
import { emitEvent } from '../../runtime/events.ts';
import type { Ctx, DeviceHealth, Driver } from '../../runtime/types.ts';
import { createDeviceMonitor, type FaultKind } from '../common/device-monitor.ts';
import { refuseWrite } from '../common/write.ts';
import { BROADCAST_ADDRESS, CTRL_ERROR, addressFromBytes, CTRL_FOLLOW_UP, FN_READ_ADDRESS, FN_READ_DATA, diFromBytes, type Frame } from './codec.ts';
import { ExchangeError, MeterErrorReply, ReplyFormatError, type ExchangeSite } from './errors.ts';
import { ValueError, decodeValue, pointByName, readRequestData, type PointDef } from './points.ts';
import type { PortHandle, PortRegistry, PortStats } from './shared-port.ts';

export interface Dlt645DeviceConfig {
  id: string;
  port: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd';
  stopBits: 1 | 2;
  /** 12 digits, or "auto". */
  address: string;
  interval: number;
  timeout: number;
  gap: number;
  preamble: number;
  points: string[];
  maxBackoff: number;
}

export interface Dlt645Health extends DeviceHealth {
  errorsByKind: Partial<Record<FaultKind, number>>;
  consecutiveFailures: number;
  /** The polled address ("auto" until discovery found one). */
  address: string;
  /** Points the meter currently refuses, with the reason. */
  pointErrors: Record<string, string>;
  /** Abnormal replies (0xD1) received; also counted in errors and errorsByKind.exception. */
  errorReplies: number;
  /** Counters of the shared port (zero while the device is stopped). */
  port: PortStats;
}

export interface Dlt645Driver extends Driver {
  health(): Dlt645Health;
}

type Outcome = 'ok' | 'refused' | 'failed' | 'link-down';

export function createDlt645Driver(cfg: Dlt645DeviceConfig, ctx: Ctx, ports: PortRegistry): Dlt645Driver {
  const log = ctx.log; // already carries { mod, device } (runtime/agent.ts)
  const monitor = createDeviceMonitor({ ...ctx, log }, { device: cfg.id, driver: 'dlt645' }, { maxBackoffMs: cfg.maxBackoff });
  const points = [...new Set(cfg.points)].map((n) => {
    const def = pointByName(n);
    if (!def) throw new Error(`dlt645 device "${cfg.id}": unknown point "${n}"`);
    return def;
  });
  const auto = cfg.address === 'auto';
  let address: string | undefined = auto ? undefined : cfg.address;
  let port: PortHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let cycle: Promise<void> | undefined;
  let running = false;
  let lastError: string | undefined;
  let errorReplies = 0;
  // Per refused point: consecutive refusals, cycles left to skip, and the message.
  const refused = new Map<string, { count: number; skip: number; message: string }>();

  const site = (def?: PointDef): ExchangeSite => ({ device: cfg.id, address: address ?? BROADCAST_ADDRESS, port: cfg.port, point: def?.name, di: def?.di });

  const failed = (kind: FaultKind, err: Error) => {
    lastError = `${kind}: ${err.message}`;
    monitor.fail(kind, err);
  };

  const pointEvent = (def: PointDef, state: 'raise' | 'clear', data: Record<string, unknown>) =>
    emitEvent(ctx, {
      type: 'device.point_fault', device: cfg.id, point: def.name,
      severity: state === 'raise' ? 'warning' : 'info', state,
      data: { driver: 'dlt645', address, di: def.di, ...data },
    });

  function onRefused(def: PointDef, err: MeterErrorReply): void {
    errorReplies++;
    lastError = `exception: ${err.message}`;
    const prev = refused.get(def.name);
    const count = (prev?.count ?? 0) + 1;
    refused.set(def.name, { count, skip: Math.min(2 ** (count - 1), 16) - 1, message: err.message });
    if (!prev || prev.message !== err.message) {
      log.warn({ point: def.name, di: def.di, address, errorByte: err.errorByte, errors: err.errors }, 'meter refused a point');
      pointEvent(def, 'raise', { errorByte: err.errorByte, errors: err.errors, error: err.message });
    }
  }

  function check(def: PointDef, f: Frame): number | MeterErrorReply {
    if (f.control & CTRL_ERROR) {
      if (f.data.length !== 1) throw new ReplyFormatError(site(def), `error reply carries ${f.data.length} data bytes, expected 1`);
      return new MeterErrorReply(site(def), f.data[0]);
    }
    if (f.control & CTRL_FOLLOW_UP) log.debug({ point: def.name }, 'reply announces follow-up data; the point fits in the first frame');
    const want = 4 + def.bytes;
    if (f.data.length !== want) throw new ReplyFormatError(site(def), `reply data is ${f.data.length} bytes, expected ${want} (4 DI + ${def.bytes} value)`);
    const di = diFromBytes(f.data);
    if (di !== def.di) throw new ReplyFormatError(site(def), `reply echoes DI ${di}, expected ${def.di}`);
    try {
      return decodeValue(def, f.data.subarray(4));
    } catch (err) {
      if (err instanceof ValueError) throw new ReplyFormatError(site(def), `${err.message} (data byte offset ${4 + err.offset})`);
      throw err;
    }
  }

  async function readPoint(def: PointDef): Promise<Outcome> {
    try {
      const frame = await port!.exchange({
        site: site(def), control: FN_READ_DATA, data: readRequestData(def), timeoutMs: cfg.timeout,
        // A normal reply echoes the DI; one that echoes another DI answers an earlier, timed-out read.
        accept: (f) => (f.control & CTRL_ERROR) !== 0 || f.data.length < 4 || diFromBytes(f.data) === def.di,
      });
      const result = check(def, frame);
      monitor.ok(); // the meter answered: the link is fine either way
      if (result instanceof MeterErrorReply) {
        onRefused(def, result);
        return 'refused';
      }
      monitor.reading({ point: def.name, value: result, unit: def.unit });
      if (refused.delete(def.name)) {
        log.info({ point: def.name }, 'meter answers the point again');
        pointEvent(def, 'clear', { recovered: true });
      }
      return 'ok';
    } catch (err) {
      return onFailure(err);
    }
  }

  function onFailure(err: unknown): Outcome {
    if (err instanceof ExchangeError) {
      if (err.cancelled) return 'link-down';
      failed(err.kind, err);
      return err.kind === 'timeout' || err.kind === 'io' ? 'link-down' : 'failed';
    }
    if (err instanceof ReplyFormatError) {
      failed('protocol', err);
      return 'failed';
    }
    failed('protocol', err instanceof Error ? err : new Error(String(err)));
    return 'failed';
  }

  async function discover(): Promise<boolean> {
    try {
      const f = await port!.exchange({ site: site(), control: FN_READ_ADDRESS, timeoutMs: cfg.timeout });
      const found = f.control & CTRL_ERROR ? undefined : f.data.length === 6 ? addressFromBytes(f.data) : undefined;
      if (!found || !/^\d{12}$/.test(found)) throw new ReplyFormatError(site(), `read-address reply is not a 12-digit address (control 0x${f.control.toString(16)}, ${f.data.length} data bytes)`);
      address = found;
      monitor.ok();
      log.info({ address }, 'meter address discovered');
      return true;
    } catch (err) {
      const hint = ' (discovery with address "auto" needs exactly one meter on the bus)';
      if (err instanceof ExchangeError && !err.cancelled) err.message += hint;
      onFailure(err);
      return false;
    }
  }

  async function poll(): Promise<void> {
    if (!address && !(await discover())) return;
    for (const def of points) {
      if (!running) return;
      const r = refused.get(def.name);
      if (r && r.skip > 0) {
        r.skip--;
        continue;
      }
      if ((await readPoint(def)) === 'link-down') break;
    }
    // A meter that stopped answering may have been swapped: discover again next time.
    if (auto && monitor.state() === 'offline') address = undefined;
  }

  /**
   * Every point once, now (refused points too), through the shared port's queue beside the
   * poll loop; rejects naming the points the meter did not give.
   */
  async function readNow(): Promise<void> {
    if (!running || !port) throw new Error(`dlt645 meter "${cfg.id}" is not running`);
    if (!address && !(await discover())) throw new Error(lastError ?? `dlt645 meter "${cfg.id}": address discovery failed`);
    const problems: string[] = [];
    for (const def of points) {
      if (!running) throw new Error(`dlt645 meter "${cfg.id}" stopped during the read`);
      const before = lastError;
      const out = await readPoint(def);
      if (out === 'ok') continue;
      problems.push(out === 'refused' ? (refused.get(def.name)?.message ?? `point "${def.name}" refused`) : lastError !== before && lastError ? lastError : `point "${def.name}": no reply`);
      // Silence or a closed port: the other points would only add timeouts to the shared bus.
      if (out === 'link-down') break;
    }
    if (problems.length) throw new Error(problems.join('; '));
  }

  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      const began = performance.now();
      cycle = poll()
        .catch((err) => log.error({ err }, 'poll cycle failed'))
        .finally(() => {
          cycle = undefined;
          if (running) schedule(Math.max(0, monitor.nextDelay(cfg.interval) - (performance.now() - began)));
        });
    }, delay);
  };

  return {
    write: refuseWrite('dlt645', cfg.id, points.map((p) => p.name)),
    readNow,
    async start() {
      if (running) return;
      try {
        port = ports.attach({
          device: cfg.id, address: cfg.address, gapMs: cfg.gap, preamble: cfg.preamble, log,
          settings: { path: cfg.port, baudRate: cfg.baudRate, parity: cfg.parity, stopBits: cfg.stopBits },
        });
      } catch (err) {
        failed('config', err as Error);
        throw err;
      }
      running = true;
      monitor.started();
      log.info({ port: cfg.port, address: cfg.address, points: points.map((p) => p.name), intervalMs: cfg.interval }, 'dlt645 meter started');
      schedule(0);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      const p = port;
      port = undefined;
      await p?.detach(); // cancels this device's queued and in-flight requests
      await cycle;
      monitor.stopped();
    },
    health(): Dlt645Health {
      const h = monitor.health();
      const exception = (h.errorsByKind.exception ?? 0) + errorReplies;
      return {
        ...h,
        errors: h.errors + errorReplies,
        errorsByKind: errorReplies ? { ...h.errorsByKind, exception } : h.errorsByKind,
        lastError: lastError ?? h.lastError,
        address: address ?? 'auto',
        pointErrors: Object.fromEntries([...refused].map(([k, v]) => [k, v.message])),
        errorReplies,
        port: port?.stats() ?? { path: cfg.port, opens: 0, exchanges: 0, garbageBytes: 0, badFrames: 0, strayFrames: 0, echoFrames: 0 },
      };
    },
  };
}
