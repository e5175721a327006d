// Agent lifecycle: builds the data path from a validated config, starts every part in
// its own try/catch (one broken driver never stops the others), and stops in reverse order
// within a bounded time: drivers stop, windows flush, outbox synced, uplink closed.
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createBus } from './bus.ts';
import { createClock, correctRecordJson } from './clock.ts';
import type { WaysideConfig } from './config/index.ts';
import type { DriverRegistry } from './drivers.ts';
import { createHealth, type AgentHealth } from './health.ts';
import { startHttp, type HttpServer } from './http.ts';
import { createLiveness } from './liveness.ts';
import { createLog } from './log.ts';
import { createMetrics } from './metrics.ts';
import { openOutbox } from './outbox/index.ts';
import { createPolicy } from './policy.ts';
import { createQuality } from './quality.ts';
import { createRecorder } from './recorder.ts';
import { createRules } from './rules.ts';
import { createSummarizer } from './summarizer.ts';
import type { Bus, Ctx, DeviceHealth, Driver, Log, Outbox } from './types.ts';
import { createUplink } from './uplink/index.ts';
import { clockIds } from './ids.ts';
import type { Service } from './service.ts';
import type { FlowsHost } from '../flows/host.ts';

export const WAYSIDE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface AgentOptions {
  config: WaysideConfig;
  registry: DriverRegistry;
  /** Services in start order (the composition root's list: devices, flows, ...). */
  services?: Service[];
  log?: Log;
  /**
   * Diagnostics: a file that gets the id of every record once `append` reported it durable,
   * one per line, written synchronously. The crash test counts these against what arrived.
   */
  durableJournal?: string;
}

export interface Agent {
  bus: Bus;
  outbox: Outbox;
  log: Log;
  health(): AgentHealth;
  http?: HttpServer;
  /** The embedded Node-RED when loaded (deploys replace its flows through setFlows). */
  readonly flows?: FlowsHost;
  /** Writes a device point through its driver (commands, flows). Rejects with a WriteError. */
  write(device: string, point: string, value: unknown): Promise<void>;
  /** Stops everything; resolves when the outbox is closed. Idempotent. */
  stop(reason?: string): Promise<void>;
}

const STOP_BUDGET_MS = 5000;

export type WriteErrorCode = 'unknown_device' | 'device_unavailable' | 'not_writable' | 'write_failed' | 'bad_request';

export class WriteError extends Error {
  readonly code: WriteErrorCode;
  constructor(code: WriteErrorCode, message: string) {
    super(message);
    this.name = 'WriteError';
    this.code = code;
  }
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { config, registry } = opts;
  const log = opts.log ?? createLog({ level: config.log.level });
  const stateDir = config.gateway.stateDir;
  mkdirSync(stateDir, { recursive: true });

  const clock = createClock({ trust: config.clock.trust, stateDir, log: log.child({ mod: 'clock' }) });
  const bus = createBus(log);
  const ctx: Ctx = { bus, log, clock, newId: clockIds(clock) };
  const policy = createPolicy(config);

  const outbox = openOutbox(
    {
      path: config.outbox.path,
      maxBytes: config.outbox.maxBytes,
      maxAgeMs: config.outbox.maxAge,
      whenFull: config.outbox.whenFull,
      commitIntervalMs: config.outbox.commitInterval,
      memoryMaxBytes: config.outbox.memoryMaxBytes,
    },
    { log, onEvent: (e) => bus.emit('event', e) },
  );

  const uplink = config.uplink.enabled ? createUplinkFor(config, { log, outbox, clock }) : undefined;
  const journalFd = opts.durableJournal ? openSync(opts.durableJournal, 'a') : undefined;
  const recorder = createRecorder({
    bus, log, outbox, policy,
    onDurable: () => uplink?.kick(),
    journal: journalFd === undefined ? undefined : (recs) => writeSync(journalFd, recs.map((r) => r.id).join('\n') + '\n'),
  });
  recorder.start();

  const summarizer = createSummarizer(ctx, { policy });
  const rules = createRules(
    ctx,
    config.rules.map((r) => {
      const [device, point] = splitPoint(r.point);
      return { id: r.id, device, point, above: r.above, below: r.below, hysteresis: r.hysteresis, forMs: r.for, severity: r.severity, event: r.event };
    }),
  );
  const devicesOn = config.devices.filter((d) => d.enabled);
  const liveness = createLiveness(ctx, devicesOn.map((d) => ({ id: d.id, offlineAfterMs: d.offlineAfter })));
  const quality = createQuality(
    ctx,
    devicesOn.flatMap((d) => Object.entries(d.perPoint).flatMap(([point, o]) => (o.checks ? [{ device: d.id, point, checks: o.checks }] : []))),
  );
  summarizer.start();
  rules.start();
  liveness.start();
  quality.start();

  const drivers = new Map<string, { driver: string; instance?: Driver; error?: string }>();
  await Promise.all(
    devicesOn.map(async (device) => {
      const dlog = log.child({ mod: device.driver, device: device.id });
      const entry: { driver: string; instance?: Driver; error?: string } = { driver: device.driver };
      drivers.set(device.id, entry);
      try {
        const def = registry.get(device.driver);
        if (!def) throw new Error(`unknown driver "${device.driver}"`);
        entry.instance = await def.create(device, { ...ctx, log: dlog });
      } catch (err) {
        dlog.error({ err }, 'device could not be created');
        entry.error = String((err as Error).message ?? err);
        return;
      }
      try {
        await entry.instance.start();
      } catch (err) {
        entry.error = String((err as Error).message ?? err);
        dlog.error({ err }, 'device failed to start');
      }
    }),
  );

  let flows: FlowsHost | undefined;
  let flowsError: string | undefined;
  const deviceHealth = (): DeviceHealth[] =>
    [...drivers.entries()].map(([id, d]) => {
      let h: DeviceHealth;
      try {
        h = d.instance ? d.instance.health() : { device: id, driver: d.driver, state: 'offline', errors: 1, readings: 0, lastError: d.error };
      } catch (err) {
        h = { device: id, driver: d.driver, state: 'degraded', errors: 1, readings: 0, lastError: String(err) };
      }
      if (liveness.offline().includes(id) && h.state === 'online') h = { ...h, state: 'offline' };
      const faults = quality.active(id);
      if (faults.length) h = { ...h, quality: faults, state: h.state === 'online' ? 'degraded' : h.state };
      return h;
    });

  const health = createHealth({
    gateway: config.gateway.id,
    version: WAYSIDE_VERSION,
    stateDir,
    clock,
    outbox: () => outbox.stats(),
    uplink: () => (uplink ? { enabled: true, ...uplink.state() } : { enabled: false, connected: false }),
    devices: deviceHealth,
    busErrors: () => bus.errors(),
    flows: () => (flows ? flows.health() : flowsError ? { state: 'error', lastError: flowsError } : undefined),
  });
  const metrics = createMetrics(() => health.snapshot());
  const http = config.http.enabled
    ? await startHttp({ host: config.http.host, port: config.http.port }, { log, health: () => health.snapshot(), metrics })
    : undefined;

  const write = async (device: string, point: string, value: unknown): Promise<void> => {
    const d = drivers.get(device);
    if (!d) throw new WriteError('unknown_device', `unknown device "${device}"`);
    if (!d.instance) throw new WriteError('device_unavailable', `device "${device}" is not running: ${d.error ?? 'not started'}`);
    if (!d.instance.write) throw new WriteError('not_writable', `device "${device}" (driver ${d.driver}) has no writable points`);
    try {
      await d.instance.write(point, value);
    } catch (err) {
      throw new WriteError('write_failed', `device "${device}" point "${point}": ${(err as Error).message ?? String(err)}`);
    }
    log.info({ device, point, value }, 'point written');
  };

  // Node-RED is loaded only when the gateway has flows or the editor is on: a gateway without
  // flows pays nothing for it (flows/host.ts imports node-red lazily).
  if (config.flows.enabled !== false) {
    const host = await import('../flows/host.ts');
    if (config.flows.enabled === true || host.wantsFlows(config.flows, stateDir)) {
      if (!http) {
        log.error({ mod: 'flows' }, 'flows need the HTTP server (http.enabled: true); Node-RED not started');
      } else {
        try {
          flows = await host.startFlows(config.flows, { http, stateDir, log: log.child({ mod: 'flows' }), bus, clock, write, health: () => health.snapshot() });
        } catch (err) {
          flowsError = String((err as Error).message ?? err);
          log.error({ mod: 'flows', err }, 'Node-RED failed to start; the agent runs on without flows');
        }
      }
    }
  }

  if (uplink) {
    uplink.handle('health', async () => health.snapshot());
    uplink.handle('write', async (req) => {
      const r = req as { device?: unknown; point?: unknown; value?: unknown } | undefined;
      if (typeof r?.device !== 'string' || typeof r.point !== 'string' || r.value === undefined) {
        throw new WriteError('bad_request', 'write needs {"device": string, "point": string, "value": ...}');
      }
      await write(r.device, r.point, r.value);
      return { device: r.device, point: r.point, value: r.value };
    });
    uplink.handle('ping', async (req) => ({ pong: true, echo: req ?? null, ts: clock.now() }));
    uplink.start();
  }
  log.info({ gateway: config.gateway.id, devices: devicesOn.length, version: WAYSIDE_VERSION }, 'agent started');

  let stopping: Promise<void> | undefined;
  const stop = (reason = 'stop') =>
    (stopping ??= (async () => {
      const t0 = clock.mono();
      log.info({ reason }, 'agent stopping');
      const left = () => Math.max(100, STOP_BUDGET_MS - (clock.mono() - t0) - 500);
      if (flows) await withTimeout(flows.stop().catch((err: unknown) => log.warn({ mod: 'flows', err }, 'flows stop failed')), Math.min(1500, left()));
      await withTimeout(
        Promise.all([...drivers.entries()].map(async ([id, d]) => {
          try {
            await d.instance?.stop();
          } catch (err) {
            log.warn({ device: id, err }, 'device stop failed');
          }
        })),
        Math.min(1500, left()),
      );
      liveness.stop();
      quality.stop();
      rules.stop();
      summarizer.stop(); // emits partial windows into the recorder
      await withTimeout(recorder.stop(), left());
      if (uplink) await withTimeout(uplink.stop(), Math.min(3000, left()));
      await outbox.close();
      if (journalFd !== undefined) closeSync(journalFd);
      clock.stop();
      await http?.close();
      log.info({ reason, ms: Math.round(clock.mono() - t0) }, 'agent stopped');
    })());

  return {
    bus, outbox, log, http, write, stop,
    health: () => health.snapshot(),
    get flows() {
      return flows;
    },
  };
}

function createUplinkFor(config: WaysideConfig, deps: { log: Log; outbox: Outbox; clock: ReturnType<typeof createClock> }) {
  const u = config.uplink;
  return createUplink(
    {
      url: u.url!,
      clientId: u.clientId ?? config.gateway.id,
      username: u.username,
      password: u.password,
      tls: u.tls,
      topicPrefix: u.topicPrefix,
      keepaliveMs: u.keepalive,
      maxBatchRecords: u.maxBatchRecords,
      maxPayloadBytes: u.maxPayloadBytes,
      inflight: u.inflight,
      reconnect: { minMs: u.reconnect.min, maxMs: u.reconnect.max },
      connectTimeoutMs: u.connectTimeout,
      protocolVersion: u.protocolVersion,
    },
    {
      log: deps.log,
      outbox: deps.outbox,
      gatewayId: config.gateway.id,
      birth: () => ({
        versions: { wayside: WAYSIDE_VERSION, node: process.versions.node, protocol: 1 },
        capabilities: ['summaries', 'readings', 'events', 'cmd:health', 'cmd:ping', 'cmd:write'],
        devices: config.devices.filter((d) => d.enabled).map((d) => ({ id: d.id, driver: d.driver })),
        site: config.gateway.site,
      }),
      rewrite: (r) => correctRecordJson(r.json, deps.clock),
    },
  );
}

function splitPoint(p: string): [string, string] {
  const i = p.indexOf('/');
  return [p.slice(0, i), p.slice(i + 1)];
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
