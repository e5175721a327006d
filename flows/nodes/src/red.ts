// The slice of Node-RED's node API the wayside nodes use (Node-RED ships no types), and the
// bridge the agent hands them through RED.settings.wayside (flows/host.ts builds it).
import type { AgentHealth } from '../../../runtime/health.ts';
import type { Bus, Clock, Log } from '../../../runtime/types.ts';
import type { Detection } from '../../../models/types.ts';
import type { PointInfo } from '../../../runtime/drivers.ts';
import type { PointCap } from '../../points.ts';

export type Msg = Record<string, unknown> & { payload?: unknown; topic?: unknown; _msgid?: string };
export type Send = (msg: Msg | Msg[]) => void;
export type Done = (err?: Error) => void;
export interface NodeStatus { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string }

export interface RedNode {
  id: string;
  type: string;
  name?: string;
  on(event: 'input', fn: (msg: Msg, send: Send, done: Done) => void): void;
  on(event: 'close', fn: (removed: boolean, done: () => void) => void): void;
  send(msg: Msg | Msg[]): void;
  error(err: unknown, msg?: Msg): void;
  warn(what: unknown): void;
  status(s: NodeStatus): void;
}

export type NodeConstructor<C> = (this: RedNode, config: C) => void;

/** The slice of express the admin endpoint uses. */
export interface AdminRequest { user?: { username?: string } }
export interface AdminResponse { json(body: unknown): void; status(code: number): AdminResponse }
export type AdminHandler = (req: AdminRequest, res: AdminResponse, next: (err?: unknown) => void) => void;

export interface RedApi {
  nodes: {
    createNode(node: RedNode, config: object): void;
    registerType<C>(type: string, ctor: NodeConstructor<C>, opts?: object): void;
  };
  settings: { wayside?: WaysideBridge };
  /** The editor's admin app (behind its login); present in nodes and plugins. */
  httpAdmin?: { get(path: string, ...handlers: AdminHandler[]): void };
  auth?: { needsPermission(permission: string): AdminHandler };
}

/**
 * One configured device as the birth message describes it (the devices service's list()):
 * its points with type, unit, range and writability; no points = the driver cannot tell.
 */
export interface CatalogDevice {
  id: string;
  driver?: string;
  points?: (Pick<PointInfo, 'name'> & Partial<PointInfo>)[];
}

/** Counters shown in the agent's health (flows section). */
export interface FlowStats {
  /** Messages `wayside in` nodes sent into flows. */
  msgsIn: number;
  /** Readings/events `wayside out` nodes emitted on the bus. */
  msgsOut: number;
  /** Messages dropped by flood protection (`wayside out` rate limit, `wayside write` in-flight cap). */
  dropped: number;
  writes: number;
  writeErrors: number;
  /** Messages `wayside out` refused because msg.ts was outside the plausible window around now. */
  tsRefused: number;
}

/** The models service's inferImage (`wayside infer` nodes). */
export type InferFn = (image: Buffer, model: string, opts?: { thresholds?: Record<string, number> }) => Promise<Detection[]>;

/** What the agent gives its flows. One per embedded Node-RED (one per process). */
export interface WaysideBridge {
  bus: Bus;
  clock: Clock;
  log: Log;
  /** A record id from the agent clock (never from a message's ts). */
  newId(): string;
  write(device: string, point: string, value: unknown): Promise<unknown>;
  /** Detections on an encoded image (the models service); absent when it does not run. */
  infer?: InferFn;
  health(): AgentHealth;
  /** The configured devices and their points, now (the editor's pickers, `wayside in`'s filter check). */
  devices(): CatalogDevice[];
  stats: FlowStats;
  /** Bus messages emitted by `wayside out`: `wayside in` skips them unless told otherwise (loops). */
  fromFlows: WeakSet<object>;
  /** Distinct points per device for readings from flows (defaults.maxPointsPerDevice). */
  points: PointCap;
  /** Defaults for nodes that leave the field empty. */
  limits: { outRatePerS: number; writeInFlight: number; writeTimeoutMs: number; tsWindowS: number; inferInFlight: number };
}

export function bridgeOf(RED: RedApi): WaysideBridge {
  const b = RED.settings.wayside;
  if (!b) throw new Error('wayside nodes run only inside the wayside agent (RED.settings.wayside is missing)');
  return b;
}

/** Node status at most once a second: status updates go to the editor over a websocket. */
export function statusThrottle(node: RedNode, clock: Clock): (s: NodeStatus) => void {
  let last = -Infinity;
  let pending: NodeStatus | undefined;
  let timer: NodeJS.Timeout | undefined;
  node.on('close', (_removed, done) => {
    if (timer) clearTimeout(timer);
    done();
  });
  return (s) => {
    const now = clock.mono();
    if (now - last >= 1000) {
      last = now;
      node.status(s);
      return;
    }
    pending = s;
    timer ??= setTimeout(() => {
      timer = undefined;
      last = clock.mono();
      if (pending) node.status(pending);
    }, 1000 - (now - last));
  };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
