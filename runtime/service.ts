// The service contract: everything that plugs into the framework (the devices of every driver
// family, the embedded flows, and later models and provisioning) is a Service. The agent starts
// services in order with one ctx each, stops them in reverse, puts each one's health under its
// own name in the health document, registers the commands each serves on the uplink dispatcher
// and lets it mount HTTP handlers. runtime/ never knows a service's fields.
import type { WaysideConfig } from './config/index.ts';
import type { HttpServer } from './http.ts';
import type { StateDir } from './state.ts';
import type { Bus, Clock, Log } from './types.ts';

/** A command handler: its result goes back to the platform; a thrown CommandError keeps its code. */
export type ServiceCommand = (request: unknown, meta: { name: string }) => Promise<unknown>;

/** One named section of the health document. */
export interface ServiceHealth {
  /** What goes under `health[name]` (an object or array the service owns). */
  section: unknown;
  /** Human-readable reasons the agent is degraded because of this service; empty when fine. */
  problems: string[];
}

/** One metric family a service exposes on /metrics. */
export interface ServiceMetric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: [Record<string, string>, number][];
}

/** What a service offers other parts of the agent (the composition root passes it on). */
export interface ServiceCtx {
  bus: Bus;
  /** Child logger with `mod: <service name>`. */
  log: Log;
  clock: Clock;
  /** A fresh sortable record id stamped from the agent clock (never from a payload's time). */
  newId(): string;
  config: WaysideConfig;
  /** This service's own state directory (`<stateDir>/<name>`), with atomic JSON writes. */
  state: StateDir;
  /** The agent's HTTP server when `http.enabled`. */
  http?: HttpServer;
  /** The whole health document (for services that report it, e.g. the flows' health node). */
  health(): unknown;
  /**
   * Applies a new config to the running agent (runtime/reconfigure.ts): what the deploy service
   * calls for a config deploy. `config` above is the one in force (updated after each call).
   * Always set by the agent; optional so bare test harnesses need not fake it.
   */
  reconfigure?(next: WaysideConfig): Promise<ReconfigureResult>;
  /** Another running service by name (the deploy service reaches the flows host through it). Set by the agent. */
  service?<S extends Service = Service>(name: string): S | undefined;
  /** The agent's last log lines (JSON text, oldest first; at most `n`), when the CLI keeps a log ring. */
  logs?(n?: number): string[];
}

/** What a live reconfiguration did: parts restarted, parts swapped in place, parts left for a restart. */
export interface ReconfigureResult {
  /** E.g. `device:meter-3`, `uplink`. */
  restarted: string[];
  /** E.g. `rules`, `summaries`. */
  swapped: string[];
  /** Config sections changed that only take effect at the next agent start (e.g. `outbox`, `http`). */
  needsRestart: string[];
}

export interface Service {
  /** Health section name, log `mod`, state sub-directory. Lowercase, unique. */
  readonly name: string;
  /**
   * Starts the service. A throw is logged and reported in its health section; the agent runs on
   * without it, unless `required` (then the agent start fails and unwinds).
   */
  start(ctx: ServiceCtx): Promise<void>;
  /** Stops within the agent's stop budget; called in reverse start order, also after a failed start. */
  stop(): Promise<void>;
  health?(): ServiceHealth;
  /** Its own families for `/metrics` (names without the `wayside_` prefix, e.g. `model_latency_seconds`). */
  metrics?(): ServiceMetric[];
  /** Commands this service serves on `{prefix}/{gw}/cmd/{name}`. */
  commands?(): Record<string, ServiceCommand>;
  /** What the service adds to the retained birth message (e.g. the devices and their points). */
  birth?(): Record<string, unknown>;
  /** Start failure is fatal for the agent (default false: the agent runs on without it). */
  readonly required?: boolean;
  /**
   * Live reconfiguration: the agent calls it when `next` differs from `prev` (the service looks
   * at what it owns). It applies what it can and says what it did; a throw is reported as a
   * restart needed. Without it, a change of the config section named like the service counts as
   * `needsRestart`.
   */
  reconfigure?(next: WaysideConfig, prev: WaysideConfig): Promise<Partial<ReconfigureResult> | void>;
}
