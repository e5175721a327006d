// One Modbus device: polls its coalesced read plan through the shared port queue on a fixed
// schedule, decodes and emits readings (deadband, heartbeat), reports every failed exchange to
// the device monitor by kind, backs off while failing, and serves writes through the same queue.
import { emitEvent } from '../../runtime/events.ts';
import type { Ctx, DeviceHealth, Driver } from '../../runtime/types.ts';
import { createDeviceMonitor, type DeviceMonitor } from '../common/device-monitor.ts';
import { decodeRegisters, isBitTable, pointWidth, toEngineering } from './codec.ts';
import { exceptionName, ModbusConfigError, ModbusError, ModbusWriteError } from './errors.ts';
import { bitAt, type ModbusRequest } from './frame.ts';
import { planReads, type PlanLimits, type ReadBlock } from './plan.ts';
import type { ModbusPoint } from './point-schema.ts';
import { request, type ModbusBuses, type PortHandle } from './ports.ts';
import { mergePoints } from './profiles.ts';
import type { ModbusDeviceConfig } from './schema.ts';
import { planWrite, rmwWrite } from './write.ts';

export interface ModbusDeviceStats {
  polls: number;
  /** Scheduled poll slots skipped because the previous poll was still running. */
  overruns: number;
  retries: number;
  /** Requests sent (reads, retries and writes). */
  requests: number;
  requestsPerCycle: number;
  naiveRequestsPerCycle: number;
  /** Recent poll start delays behind schedule, ms (last 1000). */
  jitterMs: number[];
  lastCycleMs?: number;
}

export interface ModbusDriver extends Driver {
  write(point: string, value: unknown): Promise<void>;
  health(): DeviceHealth & ReturnType<DeviceMonitor['health']> & { unitId: number; port: string; stats: Omit<ModbusDeviceStats, 'jitterMs'> };
  stats(): ModbusDeviceStats;
  /** The read plan, for tests and tooling. */
  plan(): ReadBlock[];
}

const JITTER_KEEP = 1000;

/** Resolves profile + inline points and the read plan; throws ModbusConfigError. */
export function resolveDevice(cfg: ModbusDeviceConfig): { points: ModbusPoint[]; blocks: ReadBlock[]; limits: PlanLimits } {
  const t = cfg.transport;
  if (t.type !== 'tcp' && (cfg.unitId < 1 || cfg.unitId > 247)) {
    throw new ModbusConfigError(cfg.id, `unitId ${cfg.unitId} is not a serial unit address: expected 1-247 on ${t.type}`);
  }
  const points = mergePoints(cfg.profile, cfg.points);
  if (!points.length) throw new ModbusConfigError(cfg.id, 'no points: give a profile or a points list');
  const limits: PlanLimits = {
    maxRegisters: cfg.maxRegistersPerRequest ?? cfg.profile?.maxRegistersPerRequest ?? 125,
    maxBits: cfg.maxBitsPerRequest,
    maxGap: cfg.maxGap ?? cfg.profile?.maxGap ?? 10,
  };
  try {
    return { points, blocks: planReads(points, limits), limits };
  } catch (err) {
    throw new ModbusConfigError(cfg.id, (err as Error).message);
  }
}

export function createModbusDevice(cfg: ModbusDeviceConfig, ctx: Ctx, buses: ModbusBuses): ModbusDriver {
  const { points, blocks, limits } = resolveDevice(cfg);
  const byName = new Map(points.map((p) => [p.name, p]));
  const log = ctx.log.child({ unitId: cfg.unitId });
  const monitor = createDeviceMonitor({ ...ctx, log }, { device: cfg.id, driver: 'modbus' }, { offlineAfter: cfg.offlineFailures, maxBackoffMs: cfg.maxBackoff });
  const heartbeatMs = cfg.heartbeat ?? Math.max(1000, Math.floor((cfg.offlineAfter ?? 120_000) / 2));
  const { clock } = ctx;
  const stats: ModbusDeviceStats = { polls: 0, overruns: 0, retries: 0, requests: 0, requestsPerCycle: blocks.length, naiveRequestsPerCycle: points.length, jitterMs: [] };
  const last = new Map<string, { value: number | boolean | string; mono: number }>();
  /** Last error signature per block, so a persistent error is evented once, not every poll. */
  const blockErrors = new Map<ReadBlock, string>();
  let handle: PortHandle | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;
  let nextAt = 0;
  // Devices started together would poll in the same millisecond forever; after the first
  // poll, each moves to its own phase of the grid (stable per id) to spread the load.
  let phaseMs = 0;

  const emit = (p: ModbusPoint, value: number | boolean | string, ts: number, force = false): void => {
    const now = clock.mono();
    const prev = last.get(p.name);
    if (!force && p.deadband !== undefined && prev && now - prev.mono < heartbeatMs) {
      const moved = typeof value === 'number' && typeof prev.value === 'number' ? Math.abs(value - prev.value) > p.deadband : value !== prev.value;
      if (!moved) return;
    }
    last.set(p.name, { value, mono: now });
    monitor.reading({ point: p.name, value, unit: p.unit, ts });
  };

  const decodeBlock = (b: ReadBlock, data: Buffer, ts: number, force = false): void => {
    for (const p of b.points) {
      try {
        const off = p.address - b.address;
        const raw = isBitTable(p.table) ? bitAt(data, off) : decodeRegisters(p, data.subarray(off * 2, (off + pointWidth(p)) * 2));
        const value = toEngineering(p, raw);
        if (value === undefined) log.debug({ point: p.name, raw: String(raw) }, 'not a finite value; no reading');
        else emit(p, value, ts, force);
      } catch (err) {
        log.warn({ point: p.name, err: (err as Error).message }, 'point could not be decoded');
      }
    }
  };

  const send = async (req: ModbusRequest, urgent = false): Promise<Buffer> => {
    for (let attempt = 0; ; attempt++) {
      if (!handle) throw new ModbusError('io', { device: cfg.id, unitId: req.unitId, fn: req.fn, address: req.address, count: req.count }, 'device is not running');
      stats.requests++;
      try {
        return await request(handle.port, cfg.id, req, cfg.timeout, urgent);
      } catch (err) {
        const e = err as ModbusError;
        // Exceptions 1-3 are answers about the request itself: asking again changes nothing.
        const final = (e.kind === 'exception' && (e.exceptionCode ?? 0) <= 3) || attempt >= cfg.retries || stopped;
        if (final) throw e;
        stats.retries++;
      }
    }
  };

  const noteError = (b: ReadBlock, e: ModbusError): void => {
    const sig = `${e.kind}:${e.exceptionCode ?? ''}`;
    if (blockErrors.get(b) === sig) return;
    blockErrors.set(b, sig);
    log.warn({ kind: e.kind, fn: b.fn, address: b.address, count: b.count, err: e.message }, 'modbus read failed');
    emitEvent(ctx, {
      type: 'device.error', device: cfg.id, severity: 'warning',
      data: {
        driver: 'modbus', kind: e.kind, unitId: cfg.unitId, function: b.fn, address: b.address, count: b.count,
        points: b.points.map((p) => p.name), exception: e.exceptionCode, exceptionName: e.exceptionCode === undefined ? undefined : exceptionName(e.exceptionCode),
        message: e.message,
      },
    });
  };

  /**
   * A bridged gap the device refuses (exception 2 on a merged read): replace the block with
   * reads that bridge nothing, then with one read per point. Learned once, kept for the run.
   */
  const split = (b: ReadBlock): ReadBlock[] | undefined => {
    if (b.points.length < 2) return undefined;
    let sub = planReads(b.points, { ...limits, maxGap: 0 });
    if (sub.length === 1) sub = b.points.flatMap((p) => planReads([p], limits));
    // A read now running beside the scheduled poll may have split this block already.
    const at = blocks.indexOf(b);
    if (at < 0) return sub;
    blocks.splice(at, 1, ...sub);
    stats.requestsPerCycle = blocks.length;
    log.info({ fn: b.fn, address: b.address, count: b.count, into: sub.length }, 'device refused a merged read; split it');
    return sub;
  };

  /**
   * Reads every block once; returns the failed ones. `now` (read now) emits every value even
   * within its deadband and puts its requests ahead of the device's queued ones.
   */
  const pollOnce = async (now = false): Promise<[ReadBlock, ModbusError][]> => {
    let ok = 0;
    const failed: [ReadBlock, ModbusError][] = [];
    const todo = [...blocks];
    while (todo.length) {
      const b = todo.shift()!;
      if (stopped) return failed;
      try {
        const data = await send({ unitId: cfg.unitId, fn: b.fn, address: b.address, count: b.count }, now);
        if (stopped) return failed;
        ok++;
        blockErrors.delete(b);
        decodeBlock(b, data, clock.now(), now);
      } catch (err) {
        if (stopped) return failed;
        const e = err instanceof ModbusError ? err : new ModbusError('io', { device: cfg.id, unitId: cfg.unitId, fn: b.fn, address: b.address, count: b.count }, String(err));
        const sub = e.kind === 'exception' && e.exceptionCode === 2 ? split(b) : undefined;
        if (sub) {
          todo.unshift(...sub);
          continue;
        }
        failed.push([b, e]);
        // Silence or a dead port: the other blocks would only add timeouts to the shared bus.
        if (e.kind === 'timeout' || e.kind === 'io') break;
      }
    }
    if (ok) monitor.ok();
    for (const [b, e] of failed) {
      monitor.fail(e.kind, e);
      noteError(b, e);
    }
    return failed;
  };

  /** Every point once, now, through the port's queue; rejects naming the reads that failed. */
  const readNow = async (): Promise<void> => {
    if (stopped || !handle) throw new Error(`modbus device "${cfg.id}" is not running`);
    const failed = await pollOnce(true);
    if (stopped) throw new Error(`modbus device "${cfg.id}" stopped during the read`);
    if (failed.length) throw new Error(failed.map(([, e]) => e.message).join('; '));
  };

  const cycle = (): void => {
    timer = undefined;
    if (stopped) return;
    const start = clock.mono();
    stats.jitterMs.push(Math.max(0, start - nextAt));
    if (stats.jitterMs.length > JITTER_KEEP) stats.jitterMs.splice(0, stats.jitterMs.length - JITTER_KEEP);
    stats.polls++;
    running = pollOnce()
      .then(() => undefined)
      .catch((err) => log.error({ err }, 'poll failed unexpectedly'))
      .finally(() => {
        running = undefined;
        stats.lastCycleMs = clock.mono() - start;
        if (stopped) return;
        // A fixed grid (not "interval after the last poll") keeps the rate exact; slots the
        // poll ran into are skipped, not queued up.
        const interval = cfg.interval;
        nextAt += monitor.nextDelay(interval) + phaseMs;
        phaseMs = 0;
        const now = clock.mono();
        if (nextAt < now) {
          const missed = Math.ceil((now - nextAt) / interval);
          stats.overruns += missed;
          nextAt += missed * interval;
        }
        timer = setTimeout(cycle, Math.max(0, nextAt - now));
      });
  };

  const write = async (name: string, value: unknown): Promise<void> => {
    const plan = planWrite(cfg.id, cfg.unitId, byName, name, value);
    if (stopped || !handle) throw new ModbusWriteError(cfg.id, name, 'device is not running');
    const p = byName.get(name)!;
    try {
      if (plan.req) await send(plan.req, true);
      else {
        const rmw = plan.rmw!;
        // Read and write as one queue job, so no other request of this device comes between.
        stats.requests += 2;
        await handle.port.run(cfg.id, async (link) => {
          const cur = await link.exchange({ unitId: cfg.unitId, fn: 3, address: rmw.address, count: 1 }, cfg.timeout);
          if (link.frameDelayMs) await new Promise((r) => setTimeout(r, link.frameDelayMs));
          await link.exchange(rmwWrite(cfg.unitId, rmw, cur), cfg.timeout);
        }, true);
      }
    } catch (err) {
      const e = err instanceof ModbusError ? err.forDevice(cfg.id) : err;
      log.warn({ point: name, value, err: (e as Error).message }, 'modbus write failed');
      throw e;
    }
    log.info({ point: name, value, stored: plan.stored }, 'point written');
    emit(p, plan.stored, clock.now(), true);
  };

  return {
    async start() {
      if (!stopped) return;
      handle = buses.acquire(cfg.transport, cfg.id, log);
      stopped = false;
      monitor.started();
      log.info({ port: handle.port.key, points: points.length, requestsPerCycle: blocks.length, intervalMs: cfg.interval }, 'modbus device started');
      nextAt = clock.mono();
      phaseMs = (idHash(cfg.id) % 1000) / 1000 * Math.min(cfg.interval, 1000) / 2;
      cycle();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
      const h = handle;
      handle = undefined;
      await h?.release(cfg.id);
      await running;
      monitor.stopped();
    },
    write,
    readNow,
    health: () => {
      const { jitterMs: _j, ...rest } = stats;
      return { ...monitor.health(), unitId: cfg.unitId, port: handle?.port.key ?? '', stats: rest };
    },
    stats: () => ({ ...stats, jitterMs: [...stats.jitterMs] }),
    plan: () => blocks,
  };
}

function idHash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}
