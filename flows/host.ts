// The embedded Node-RED: started by the agent only when the gateway has flows or the editor is
// on (node-red is imported here lazily, so a gateway without flows never loads it), served on
// the agent's one HTTP server, with its userDir (flows.json, credentials) in <stateDir>/flows.
// Node-RED is a singleton per process: one agent per process hosts flows.
import { existsSync, readFileSync } from 'node:fs';
import { ensureDir } from '../runtime/state.ts';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FlowsConfig } from '../runtime/config/schema.ts';
import type { AgentHealth } from '../runtime/health.ts';
import type { HttpServer, MountedHandler } from '../runtime/http.ts';
import { clockIds } from '../runtime/ids.ts';
import type { Bus, Clock, Log } from '../runtime/types.ts';
import { loginGuard, plainBeyondLoopback } from './login.ts';
import { createPointCap } from './points.ts';
import type { CatalogDevice, FlowStats, InferFn, WaysideBridge } from './nodes/src/red.ts';
import { buildSettings, createLogSink, credentialSecret, FLOW_FILE, FlowsError, noteNodeError, type LogTracker } from './settings.ts';
import { countFlows, validateFlows } from './validate.ts';

export { FlowsError } from './settings.ts';
export { FlowsValidationError, validateFlows } from './validate.ts';

export interface FlowsDeps {
  http: HttpServer;
  stateDir: string;
  log: Log;
  bus: Bus;
  clock: Clock;
  write(device: string, point: string, value: unknown): Promise<unknown>;
  /** Detections on an image (the models service); `wayside infer` nodes say so when absent. */
  infer?: InferFn;
  health(): AgentHealth | unknown;
  /** Record ids from the agent clock (ctx.newId); default: ids stamped from `clock`. */
  newId?: () => string;
  /** The configured devices and the points they are known to have (for the per-device point cap). */
  devices?: () => { id: string; points?: string[] }[];
  /** The configured devices as the birth message describes them (editor pickers); default none. */
  catalog?: () => CatalogDevice[];
  /** defaults.maxPointsPerDevice. */
  maxPointsPerDevice?: number;
}

export interface FlowsHealth extends FlowStats {
  state: 'running' | 'error' | 'stopped';
  lastError?: string;
  /** Tabs. */
  flows: number;
  /** Nodes on them (not tabs, subflows or groups). */
  nodes: number;
  /** Errors reported by nodes (a node's error, a function that threw), since start. */
  nodeErrors: number;
  /** The failing nodes (up to 50): error count and latest error of each, by node id. */
  errorsByNode: Record<string, { count: number; lastError: string }>;
  /** Errors not delivered to a catch node because it already had `catchPerSecond` this second (an error loop). */
  errorLoopDrops: number;
  /** Node types the flows use that this gateway does not have; those nodes do nothing. */
  unknownTypes: string[];
  /** Node-RED log lines dropped by the per-node log rate limit. */
  logsSuppressed: number;
  /** Readings from flows refused per device: a new point beyond defaults.maxPointsPerDevice. */
  pointsRefused: Record<string, number>;
  editor: boolean;
  /** Set when the editor is served beyond loopback over plain HTTP (a problem in health). */
  editorInsecure?: string;
  /** Revision of the deployed flows (Node-RED's hash). */
  rev?: string;
}

export interface FlowsHost {
  stop(): Promise<void>;
  health(): FlowsHealth;
  /** Validates, deploys (full) and resolves once the flows run. Rejects with FlowsValidationError. */
  setFlows(flows: unknown[]): Promise<void>;
}

/** Defaults for the wayside nodes (per node settable in the editor). */
export const FLOW_LIMITS = { outRatePerS: 100, writeInFlight: 8, writeTimeoutMs: 10_000, catchPerSecond: 20, tsWindowS: 86_400, inferInFlight: 2 };
const START_TIMEOUT_MS = 15_000;

export function userDirOf(stateDir: string): string {
  return path.join(stateDir, 'flows');
}

/** True when the editor is on or <stateDir>/flows/flows.json holds at least one node. */
export function wantsFlows(cfg: FlowsConfig, stateDir: string): boolean {
  if (cfg.editor.enabled) return true;
  const file = path.join(userDirOf(stateDir), FLOW_FILE);
  if (!existsSync(file)) return false;
  try {
    const flows = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    const list = Array.isArray(flows) ? flows : (flows as { flows?: unknown })?.flows;
    return Array.isArray(list) && list.some((n) => (n as { type?: unknown })?.type !== 'tab');
  } catch {
    return true; // unreadable: let Node-RED load it (it falls back to its backup) and report
  }
}

// The few parts of the node-red module used here (it ships no types).
interface RedEvents {
  on(ev: string, fn: (arg: never) => void): void;
  removeListener(ev: string, fn: (arg: never) => void): void;
}
interface NodeRed {
  init(server: unknown, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  events: RedEvents;
  hooks: { add(id: string, fn: (ev: ReceiveEvent) => boolean | void): void; remove(id: string): void };
  httpAdmin: MountedHandler;
  httpNode: MountedHandler;
  nodes: {
    registerType(set: string, type: string, ctor: (this: PlaceholderNode, cfg: object) => void): void;
    createNode(node: object, cfg: object): void;
    getType(type: string): unknown;
  };
  runtime: {
    isStarted(): Promise<boolean>;
    flows: { setFlows(opts: { flows: { flows: unknown[] }; deploymentType: string }): Promise<{ rev: string }> };
  };
}
interface PlaceholderNode {
  status(s: object): void;
  on(ev: 'input', fn: (msg: unknown, send: unknown, done: () => void) => void): void;
}
type ReceiveEvent = { msg?: { error?: { message?: unknown; source?: { id?: string; type?: string; name?: string } } }; destination?: { node?: { type?: string; id?: string } } };
type RuntimeEvent = { id?: string; payload?: { error?: string; types?: string[]; text?: string } };
type StartedEvent = { config?: { flows?: { type?: unknown }[]; rev?: string } };

export async function startFlows(cfg: FlowsConfig, deps: FlowsDeps): Promise<FlowsHost> {
  const { log, http } = deps;
  if (cfg.editor.enabled && cfg.editor.users.length === 0) {
    throw new FlowsError('flows.editor.enabled needs at least one user in flows.editor.users (the editor has no anonymous access)');
  }
  const spec = 'node-red';
  const RED = ((await import(spec)) as { default: NodeRed }).default;
  // isStarted() throws before the first init: then nothing runs yet.
  if (await RED.runtime.isStarted().catch(() => false)) throw new FlowsError('Node-RED already runs in this process: only one agent per process can host flows');

  const userDir = userDirOf(deps.stateDir);
  ensureDir(userDir);
  const stats: FlowStats = { msgsIn: 0, msgsOut: 0, dropped: 0, writes: 0, writeErrors: 0, tsRefused: 0 };
  const points = createPointCap({ max: deps.maxPointsPerDevice ?? 256, devices: deps.devices?.() ?? [], log, mono: () => deps.clock.mono() });
  const bridge: WaysideBridge = {
    bus: deps.bus, clock: deps.clock, log, newId: deps.newId ?? clockIds(deps.clock), write: deps.write, infer: deps.infer,
    health: deps.health as WaysideBridge['health'], devices: deps.catalog ?? (() => []), stats, points, fromFlows: new WeakSet(), limits: FLOW_LIMITS,
  };
  const tracker: LogTracker = { nodeErrors: 0, runtimeErrors: 0, suppressed: 0 };
  const state: { state: FlowsHealth['state']; error?: string; flows: number; nodes: number; unknown: string[]; rev?: string } = { state: 'running', flows: 0, nodes: 0, unknown: [] };
  const placeholders = new Set<string>();

  // Node-RED refuses to start any flow while a node type is missing. We register a do-nothing
  // placeholder for each missing type instead: the rest runs, health lists the unknown types.
  const onRuntimeEvent = (ev: RuntimeEvent) => {
    if (ev?.id !== 'runtime-state' || ev.payload?.error !== 'missing-types') return;
    for (const type of ev.payload.types ?? []) registerPlaceholder(RED, type, placeholders, log);
  };
  const onStarted = (ev: StartedEvent) => {
    const flows = ev?.config?.flows ?? [];
    Object.assign(state, countFlows(flows));
    state.rev = ev?.config?.rev;
    state.unknown = [...new Set(flows.map((n) => n.type).filter((t): t is string => typeof t === 'string' && placeholders.has(t)))].sort();
    if (state.unknown.length) log.warn({ types: state.unknown }, 'flows use unknown node types; those nodes do nothing');
    log.info({ flows: state.flows, nodes: state.nodes, rev: state.rev }, 'flows running');
  };
  // Node-RED logs an error only when no catch node takes it; a caught error still is one.
  // It is also where error loops are cut: Node-RED's own cut-off (10 rounds of one message)
  // does not stop a catch -> function -> throw loop here (seen: ~1,400 errors/s, unbounded), so
  // a catch node gets at most CATCH_PER_S errors a second; the rest are dropped and counted.
  const catchWindows = new Map<string, { start: number; n: number }>();
  const onReceive = (ev: ReceiveEvent): boolean | void => {
    if (ev.destination?.node?.type !== 'catch' || !ev.msg?.error) return;
    const src = ev.msg.error.source;
    noteNodeError(tracker, src?.id ?? '?', `${src?.type ?? 'node'} ${src?.id ?? '?'}${src?.name ? ` "${src.name}"` : ''}: ${String(ev.msg.error.message ?? '')} (caught)`.slice(0, 500));
    const id = ev.destination.node.id ?? '?';
    const now = deps.clock.mono();
    let w = catchWindows.get(id);
    if (!w || now - w.start >= 1000) {
      if (catchWindows.size > 1000) catchWindows.clear();
      catchWindows.set(id, (w = { start: now, n: 0 }));
    }
    if (++w.n > FLOW_LIMITS.catchPerSecond) {
      tracker.errorLoopDrops = (tracker.errorLoopDrops ?? 0) + 1;
      return false; // Node-RED hooks: false stops this message here
    }
  };
  RED.events.on('runtime-event', onRuntimeEvent);
  RED.events.on('flows:started', onStarted);
  RED.hooks.add('onReceive.wayside', onReceive);
  const detach = () => {
    RED.events.removeListener('runtime-event', onRuntimeEvent);
    RED.events.removeListener('flows:started', onStarted);
    RED.hooks.remove('*.wayside');
  };

  const settings = buildSettings(cfg, {
    userDir,
    secret: credentialSecret(cfg, deps.stateDir),
    log,
    sink: createLogSink(log, tracker, () => deps.clock.mono()),
    bridge,
    adminMiddleware: loginGuard({ log, mono: () => deps.clock.mono() }),
  });
  const mounted: string[] = [];
  let editorInsecure: string | undefined;
  try {
    RED.init(http.server, settings);
    keepTelemetryOff(log);
    const started = nextStart(RED);
    await RED.start();
    const first = await started;
    if (first.error) {
      state.state = 'error';
      state.error = first.error;
      log.error({ error: first.error }, 'flows did not start');
    }
    // Node-RED's express apps expect to be mounted at their root; mount them under ours.
    const express = createRequire(createRequire(import.meta.url).resolve('node-red'))('express') as () => MountedHandler & { use(p: string, h: MountedHandler): void; disable(s: string): void };
    const mount = (prefix: string, handler: MountedHandler) => {
      const app = express();
      app.disable('x-powered-by');
      app.use(prefix, handler);
      http.mount(prefix, app);
      mounted.push(prefix);
    };
    if (cfg.editor.enabled) {
      mount(cfg.editor.path, RED.httpAdmin);
      editorInsecure = plainBeyondLoopback(http.address().host, cfg.editor.path);
      if (editorInsecure) log.error({ host: http.address().host }, editorInsecure);
    }
    mount(cfg.httpNodeRoot, RED.httpNode);
  } catch (err) {
    detach();
    for (const p of mounted) http.unmount(p);
    await RED.stop().catch(() => undefined);
    throw err;
  }
  log.info({ userDir, editor: cfg.editor.enabled ? cfg.editor.path : false, httpNodeRoot: cfg.httpNodeRoot }, 'Node-RED started');

  let stopping: Promise<void> | undefined;
  return {
    health: () => ({
      state: state.state,
      lastError: state.error ?? tracker.lastError,
      flows: state.flows,
      nodes: state.nodes,
      nodeErrors: tracker.nodeErrors,
      errorsByNode: Object.fromEntries(tracker.byNode ?? []),
      errorLoopDrops: tracker.errorLoopDrops ?? 0,
      unknownTypes: [...state.unknown],
      ...stats,
      logsSuppressed: tracker.suppressed,
      pointsRefused: points.refused(),
      editor: cfg.editor.enabled,
      ...(editorInsecure ? { editorInsecure } : {}),
      ...(state.rev ? { rev: state.rev } : {}),
    }),
    async setFlows(flows) {
      if (state.state === 'stopped') throw new FlowsError('flows are stopped');
      const nodes = validateFlows(flows);
      const started = nextStart(RED);
      await RED.runtime.flows.setFlows({ flows: { flows: nodes }, deploymentType: 'full' });
      const r = await started;
      if (r.error) throw new FlowsError(`flows deployed but did not start: ${r.error}`);
      state.state = 'running';
      state.error = undefined;
    },
    stop: () =>
      (stopping ??= (async () => {
        for (const p of mounted) http.unmount(p);
        try {
          await RED.stop();
        } finally {
          detach();
          state.state = 'stopped';
          log.info('Node-RED stopped');
        }
      })()),
  };
}

/** Resolves at the next "flows started", or with the error that kept them from starting. */
function nextStart(RED: NodeRed): Promise<{ error?: string }> {
  return new Promise((resolve) => {
    const done = (r: { error?: string }) => {
      clearTimeout(timer);
      RED.events.removeListener('flows:started', onStarted);
      RED.events.removeListener('runtime-event', onEvent);
      resolve(r);
    };
    const onStarted = () => done({});
    const onEvent = (ev: RuntimeEvent) => {
      const e = ev?.id === 'runtime-state' ? ev.payload?.error : undefined;
      // Missing types are handled (placeholders); lost credentials still start the flows.
      if (e && e !== 'missing-types' && e !== 'credentials_load_failed') done({ error: `${e}${ev.payload?.text ? ` (${ev.payload.text})` : ''}` });
    };
    const timer = setTimeout(() => done({ error: `flows did not start within ${START_TIMEOUT_MS / 1000} s` }), START_TIMEOUT_MS);
    RED.events.on('flows:started', onStarted);
    RED.events.on('runtime-event', onEvent);
  });
}

function registerPlaceholder(RED: NodeRed, type: string, placeholders: Set<string>, log: Log): void {
  placeholders.add(type);
  if (RED.nodes.getType(type)) return;
  try {
    RED.nodes.registerType('wayside/unknown-types', type, function Unknown(this: PlaceholderNode, cfg: object) {
      RED.nodes.createNode(this, cfg);
      this.status({ fill: 'red', shape: 'ring', text: `unknown node type "${type}"` });
      this.on('input', (_msg, _send, done) => done());
    });
  } catch (err) {
    log.warn({ type, err }, 'could not stand in for an unknown node type');
  }
}

/**
 * The editor can opt in to Node-RED's telemetry (a daily request to nodered.org) for the whole
 * runtime; the settings say no, and this makes an opt-in a no-op. Node-RED's own module,
 * resolved from node-red itself; skipped (with a warning) if a new version moved it.
 */
function keepTelemetryOff(log: Log): void {
  try {
    const req = createRequire(createRequire(import.meta.url).resolve('node-red'));
    const telemetry = req('@node-red/runtime/lib/telemetry') as { enable?: () => void; stop?: () => void };
    if (typeof telemetry.enable === 'function') telemetry.enable = () => log.warn('Node-RED telemetry stays off on a wayside gateway');
    telemetry.stop?.();
  } catch (err) {
    log.warn({ err }, 'could not pin Node-RED telemetry off (the settings still disable it)');
  }
}
