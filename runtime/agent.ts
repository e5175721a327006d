// Agent lifecycle. startAgent only wires: clock, bus, outbox, recorder, summarizer and rules
// (the data path), the HTTP server, then every service of the composition root in order (each
// with its own ctx, health section and commands), then the uplink. A failure at any step unwinds
// what already started (no half-open outbox) and rejects with an AgentStartError naming the
// cause. stop() runs in reverse order within a bounded time: services stop, windows flush,
// records durable, uplink delivers what is stored and says goodbye, outbox closed.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createBus } from './bus.ts';
import { createClock, correctRecordJson, type GatewayClock } from './clock.ts';
import type { WaysideConfig } from './config/index.ts';
import { AgentStartError } from './errors.ts';
import { emitEvent } from './events.ts';
import { createHealth, RESERVED_SECTIONS, type AgentHealth } from './health.ts';
import { startHttp, type HttpServer } from './http.ts';
import { clockIds } from './ids.ts';
import { createLog } from './log.ts';
import { startLoopMonitor } from './loop.ts';
import { createMetrics } from './metrics.ts';
import { openOutbox } from './outbox/index.ts';
import { createPolicy } from './policy.ts';
import { planReconfigure, thresholdRules } from './reconfigure.ts';
import { createRecorder } from './recorder.ts';
import { createRules } from './rules.ts';
import type { ReconfigureResult, Service, ServiceCtx } from './service.ts';
import { ensureDir, stateDir as openStateDir } from './state.ts';
import { createSummarizer } from './summarizer.ts';
import type { LogRing } from './log.ts';
import type { Bus, Ctx, Log, Outbox } from './types.ts';
import { createUplink, type CommandHandler, type Uplink } from './uplink/index.ts';

export const WAYSIDE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface AgentOptions {
  config: WaysideConfig;
  /** Services in start order (the composition root's list: devices, flows, ...). */
  services?: Service[];
  log?: Log;
  /**
   * Diagnostics: a file that gets the id of every record once `append` reported it durable,
   * one per line, written synchronously. The crash test counts these against what arrived.
   */
  durableJournal?: string;
  /** The log's in-memory ring (runtime/log.ts createLogRing, given to createLog too): services read it through ctx.logs. */
  logRing?: LogRing;
}

export interface Agent {
  bus: Bus;
  outbox: Outbox;
  log: Log;
  health(): AgentHealth;
  http?: HttpServer;
  /** A running service by name (e.g. 'flows' for remote deploys). */
  service<S extends Service = Service>(name: string): S | undefined;
  /** The config in force (the start one, or the last one reconfigure applied). */
  config(): WaysideConfig;
  /**
   * Applies a new config live (runtime/reconfigure.ts): changed devices restart, rules and summary
   * policies swap in place, the uplink restarts when its settings changed (outbox untouched), each
   * service applies its own section; what only takes effect at start is listed in `needsRestart`.
   * Calls run one at a time.
   */
  reconfigure(next: WaysideConfig): Promise<ReconfigureResult>;
  /** Stops everything; resolves when the outbox is closed. Idempotent. */
  stop(reason?: string): Promise<void>;
}

const STOP_BUDGET_MS = 5000;
/** Per service; the devices service bounds each device itself. */
const SERVICE_STOP_MS = 1500;

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  let config = opts.config;
  const log = opts.log ?? createLog({ level: config.log.level });
  const services = opts.services ?? [];
  checkServiceNames(services);
  // Undo list: what started so far, stopped in reverse if a later step fails.
  const undo: { what: string; fn: () => unknown }[] = [];
  const step = async <T>(what: string, fn: () => T | Promise<T>, stop?: (v: T) => unknown): Promise<T> => {
    let v: T;
    try {
      v = await fn();
    } catch (err) {
      throw new AgentStartError(`${what}: ${describe(err)}`, { cause: err });
    }
    if (stop) undo.push({ what, fn: () => stop(v) });
    return v;
  };

  try {
    const root = config.gateway.stateDir;
    await step(`state directory ${root}`, () => ensureDir(root));
    const clock = await step('clock', () => createClock({ trust: config.clock.trust, stateDir: root, log: log.child({ mod: 'clock' }) }), (c) => c.stop());
    const bus = createBus(log);
    const ctx = { bus, log, clock, newId: clockIds(clock) } satisfies Ctx;
    const loop = startLoopMonitor();
    undo.push({ what: 'loop monitor', fn: () => loop.stop() });
    let currentPolicy = createPolicy(config);
    const policy: ReturnType<typeof createPolicy> = (device, point) => currentPolicy(device, point);

    const outbox = await step(
      `outbox ${config.outbox.path}`,
      () =>
        openOutbox(
          {
            path: config.outbox.path,
            maxBytes: config.outbox.maxBytes,
            maxAgeMs: config.outbox.maxAge,
            whenFull: config.outbox.whenFull,
            commitIntervalMs: config.outbox.commitInterval,
            memoryMaxBytes: config.outbox.memoryMaxBytes,
          },
          { log, newId: ctx.newId, onEvent: (e) => bus.emit('event', e) },
        ),
      (o) => o.close(),
    );

    const uplinkDeps = { log, outbox, ctx, birth: () => birthOf(running, log) };
    let uplink: Uplink | undefined = config.uplink.enabled ? createUplinkFor(config, uplinkDeps) : undefined;
    const journalFd = opts.durableJournal ? openSync(opts.durableJournal, 'a') : undefined;
    const recorder = createRecorder({
      bus, log, outbox, policy, newId: ctx.newId,
      onDurable: () => uplink?.kick(),
      journal: journalFd === undefined ? undefined : (recs) => writeSync(journalFd, recs.map((r) => r.id).join('\n') + '\n'),
    });
    recorder.start();
    undo.push({ what: 'recorder', fn: () => recorder.stop() });

    const summarizer = createSummarizer(ctx, { policy });
    const rules = createRules(ctx, thresholdRules(config));
    summarizer.start();
    rules.start();

    // Services and their start failures, by name.
    const running: Service[] = [];
    const failed = new Map<string, string>();
    let health: ReturnType<typeof createHealth> | undefined;
    const snapshot = () => health!.snapshot();
    health = createHealth({
      gateway: config.gateway.id,
      version: WAYSIDE_VERSION,
      stateDir: root,
      clock,
      loop: () => loop.stats(),
      outbox: () => outbox.stats(),
      uplink: () => (uplink ? { enabled: true, ...uplink.state() } : { enabled: false, connected: false }),
      busErrors: () => bus.errors(),
      sections: () => running.filter((s) => s.health).map((s) => ({ name: s.name, health: () => s.health!() })),
      problems: () => [...failed].map(([name, err]) => `${name} failed to start: ${err}`),
    });
    const metrics = createMetrics(snapshot, () =>
      running.flatMap((s) => {
        try {
          return s.metrics?.() ?? [];
        } catch (err) {
          log.warn({ err, service: s.name }, 'service metrics failed');
          return [];
        }
      }),
    );
    const http = config.http.enabled
      ? await step(`http server on ${config.http.host}:${config.http.port}`, () => startHttp({ host: config.http.host, port: config.http.port }, { log, health: snapshot, metrics }), (h) => h.close())
      : undefined;

    const state = openStateDir(root);
    const ctxs = new Map<Service, ServiceCtx>();
    const serviceByName = <S extends Service>(name: string) => running.find((s) => s.name === name) as S | undefined;
    // Assigned below (it needs the uplink handlers); services only call it once running.
    let reconfigure: (next: WaysideConfig) => Promise<ReconfigureResult> = async () => {
      throw new Error('the agent is still starting');
    };
    for (const s of services) {
      const sctx: ServiceCtx = {
        bus, clock, config, http,
        log: log.child({ mod: s.name }),
        newId: ctx.newId,
        state: state.sub(s.name),
        health: snapshot,
        reconfigure: (next) => reconfigure(next),
        service: serviceByName,
        ...(opts.logRing ? { logs: (n?: number) => opts.logRing!.lines(n) } : {}),
      };
      ctxs.set(s, sctx);
      try {
        await s.start(sctx);
      } catch (err) {
        // Its own partial start is its to undo; the agent runs on without it unless it is required.
        await stopService(s, log);
        if (s.required) throw new AgentStartError(`${s.name}: ${describe(err)}`, { cause: err });
        failed.set(s.name, describe(err));
        log.error({ mod: s.name, err: describe(err) }, 'service failed to start; the agent runs on without it');
        continue;
      }
      running.push(s);
      undo.push({ what: s.name, fn: () => stopService(s, log) });
    }

    // Commands served on the uplink (kept to serve them again on a restarted uplink).
    const handlers = new Map<string, CommandHandler>([
      ['health', async () => snapshot()],
      ['ping', async (req) => ({ pong: true, echo: req ?? null, ts: clock.now() })],
    ]);
    for (const s of running) for (const [name, fn] of Object.entries(s.commands?.() ?? {})) handlers.set(name, fn);
    const startUplink = (u: Uplink) => {
      for (const [name, fn] of handlers) u.handle(name, fn);
      u.start();
    };
    if (uplink) startUplink(uplink);

    let stopping: Promise<void> | undefined;
    let chain: Promise<unknown> = Promise.resolve();
    const applyConfig = async (next: WaysideConfig): Promise<ReconfigureResult> => {
      if (stopping) throw new Error('the agent is stopping');
      const prev = config;
      const plan = planReconfigure(prev, next);
      const result: ReconfigureResult = { restarted: [], swapped: [], needsRestart: [...plan.needsRestart] };
      if (plan.changed.size === 0) return result;
      // Rules first: built and validated before anything else changes.
      if (plan.rules) {
        rules.replace(plan.rules);
        result.swapped.push('rules');
      }
      config = next;
      if (plan.policy) currentPolicy = createPolicy(next);
      if (plan.policyChanged) {
        summarizer.repolicy();
        result.swapped.push('summaries');
      }
      for (const s of running) {
        const sctx = ctxs.get(s)!;
        sctx.config = next;
        if (s.reconfigure) {
          try {
            const r = await s.reconfigure(next, prev);
            if (r) {
              result.restarted.push(...(r.restarted ?? []));
              result.swapped.push(...(r.swapped ?? []));
              result.needsRestart.push(...(r.needsRestart ?? []));
            }
          } catch (err) {
            log.error({ mod: s.name, err: describe(err) }, 'service could not apply the new config; it takes effect at the next start');
            result.needsRestart.push(s.name);
          }
        } else if (plan.changed.has(s.name)) {
          result.needsRestart.push(s.name);
        }
      }
      if (plan.uplink) {
        // The outbox stays: records stored meanwhile go out once the new session is up.
        if (uplink) await uplink.stop();
        uplink = next.uplink.enabled ? createUplinkFor(next, uplinkDeps) : undefined;
        if (uplink) startUplink(uplink);
        result.restarted.push('uplink');
      }
      log.info(result, 'config applied');
      return result;
    };
    reconfigure = (next) => {
      const p = chain.then(() => applyConfig(next));
      chain = p.catch(() => undefined);
      return p;
    };

    log.info({ gateway: config.gateway.id, services: running.map((s) => s.name), version: WAYSIDE_VERSION }, 'agent started');

    const stop = (reason = 'stop') =>
      (stopping ??= (async () => {
        const t0 = clock.mono();
        log.info({ reason }, 'agent stopping');
        await withTimeout(chain, 2000); // a reconfiguration in progress finishes first
        const left = () => Math.max(100, STOP_BUDGET_MS - (clock.mono() - t0) - 500);
        for (const s of [...running].reverse()) await withTimeout(stopService(s, log), Math.min(SERVICE_STOP_MS, left()));
        rules.stop();
        summarizer.stop(); // emits partial windows into the recorder
        await withTimeout(recorder.stop(), left());
        if (uplink) await withTimeout(uplink.stop(), Math.min(3000, left()));
        await outbox.close();
        if (journalFd !== undefined) closeSync(journalFd);
        clock.stop();
        loop.stop();
        await http?.close();
        log.info({ reason, ms: Math.round(clock.mono() - t0) }, 'agent stopped');
      })());

    return {
      bus, outbox, log, http, stop,
      health: snapshot,
      service: serviceByName,
      config: () => config,
      reconfigure,
    };
  } catch (err) {
    for (const u of undo.reverse()) {
      try {
        await u.fn();
      } catch (e) {
        log.warn({ what: u.what, err: describe(e) }, 'undo after a failed start failed');
      }
    }
    if (err instanceof AgentStartError) {
      log.error({ err: err.message }, 'agent failed to start');
      throw err;
    }
    throw new AgentStartError(describe(err), { cause: err });
  }
}

function checkServiceNames(services: Service[]): void {
  const seen = new Set<string>();
  for (const s of services) {
    if (!/^[a-z][a-z0-9-]*$/.test(s.name) || RESERVED_SECTIONS.has(s.name) || seen.has(s.name)) {
      throw new AgentStartError(`service name ${JSON.stringify(s.name)} is invalid, reserved or used twice`);
    }
    seen.add(s.name);
  }
}

async function stopService(s: Service, log: Log): Promise<void> {
  try {
    await s.stop();
  } catch (err) {
    log.warn({ mod: s.name, err: describe(err) }, 'service stop failed');
  }
}

/** The birth message's agent part: versions, capabilities (commands served) and what services add. */
function birthOf(running: Service[], log: Log): Record<string, unknown> {
  const commands = ['health', 'ping', ...running.flatMap((s) => Object.keys(s.commands?.() ?? {}))];
  const extra: Record<string, unknown> = {};
  for (const s of running) {
    try {
      Object.assign(extra, s.birth?.());
    } catch (err) {
      log.error({ mod: s.name, err: describe(err) }, 'birth contribution failed');
    }
  }
  return { capabilities: ['summaries', 'readings', 'events', ...commands.map((c) => `cmd:${c}`)], ...extra };
}

function createUplinkFor(config: WaysideConfig, deps: { log: Log; outbox: Outbox; ctx: Ctx & { clock: GatewayClock }; birth: () => Record<string, unknown> }) {
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
      commands: { maxConcurrent: u.commands.maxConcurrent, timeoutMs: u.commands.timeout, maxRequestBytes: u.commands.maxRequestBytes },
      duplicateBackoffMs: u.duplicateBackoff,
      maxRefusals: u.maxRefusals,
    },
    {
      log: deps.log,
      outbox: deps.outbox,
      gatewayId: config.gateway.id,
      birth: () => ({
        versions: { wayside: WAYSIDE_VERSION, node: process.versions.node, protocol: 1 },
        ...deps.birth(),
        site: config.gateway.site,
      }),
      rewrite: (r) => correctRecordJson(r.json, deps.ctx.clock),
      onEvent: (e) => emitEvent(deps.ctx, e),
    },
  );
}

/** One line for a person: the message and, for system errors, the code (EADDRINUSE, EACCES). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
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

