// The embedded flows as a Service. Node-RED is loaded only when wanted (flows.enabled true, or
// "auto" with a non-empty flows.json or the editor on): flows/host.ts, and through it node-red,
// is imported lazily, so a gateway without flows never pays for it. Failures to start stay in
// this service's health section; the agent runs on without flows.
import type { Service, ServiceCtx, ServiceHealth } from '../runtime/service.ts';
import type { FlowsHealth, FlowsHost } from './host.ts';
import type { PointInfo } from '../runtime/drivers.ts';
import type { CatalogDevice, InferFn } from './nodes/src/red.ts';

export interface FlowsServiceDeps {
  /** Writes a device point through its driver (`wayside write` nodes). */
  write(device: string, point: string, value: unknown): Promise<unknown>;
  /** Detections on an encoded image: the models service's inferImage (`wayside infer` nodes); absent = no models service. */
  infer?: InferFn;
  /**
   * The devices and the points their drivers know (the devices service's list(), as in the birth
   * message): seeds the per-device point cap and feeds the editor's device and point pickers.
   */
  devices?(): { id: string; driver?: string; points?: (string | PointInfo)[] }[];
}

/** What the flows section shows when Node-RED did not start (or was never wanted: undefined). */
export type FlowsSection = FlowsHealth | { state: 'error'; lastError: string };

export interface FlowsService extends Service {
  /** The running Node-RED host (remote deploys call setFlows on it); undefined when not loaded. */
  host(): FlowsHost | undefined;
  /**
   * Node types installed in the running Node-RED (core, wayside and any node modules present),
   * without the stand-ins for unknown types; undefined when Node-RED is not loaded.
   */
  knownTypes(): Promise<string[] | undefined>;
}

/** The health problems of the flows section (the strings runtime/health.ts built before). */
export function flowsProblems(h: Partial<FlowsHealth> & { state: string; lastError?: string } | undefined): string[] {
  if (!h) return [];
  const problems: string[] = [];
  if (h.state !== 'running') problems.push(`flows ${h.state}${h.lastError ? ': ' + h.lastError : ''}`);
  if (h.unknownTypes?.length) problems.push(`flows use unknown node types: ${h.unknownTypes.join(', ')}`);
  if (h.editorInsecure) problems.push(h.editorInsecure);
  return problems;
}

export function createFlowsService(deps: FlowsServiceDeps): FlowsService {
  let host: FlowsHost | undefined;
  let error: string | undefined;

  return {
    name: 'flows',
    async start(ctx: ServiceCtx) {
      const cfg = ctx.config.flows;
      if (cfg.enabled === false) return;
      const stateDir = ctx.config.gateway.stateDir;
      const mod = await import('./host.ts');
      if (cfg.enabled !== true && !mod.wantsFlows(cfg, stateDir)) return;
      if (!ctx.http) {
        error = 'flows need the HTTP server (http.enabled: true); Node-RED not started';
        ctx.log.error(error);
        return;
      }
      try {
        host = await mod.startFlows(cfg, {
          http: ctx.http, stateDir, log: ctx.log, bus: ctx.bus, clock: ctx.clock,
          write: deps.write, infer: deps.infer, health: ctx.health, newId: ctx.newId,
          devices: () => knownPoints(ctx, deps),
          catalog: () => catalogOf(deps),
          maxPointsPerDevice: ctx.config.defaults.maxPointsPerDevice,
        });
      } catch (err) {
        error = String((err as Error).message ?? err);
        ctx.log.error({ err }, 'Node-RED failed to start; the agent runs on without flows');
      }
    },
    async stop() {
      await host?.stop();
    },
    health(): ServiceHealth {
      const section: FlowsSection | undefined = host ? host.health() : error ? { state: 'error', lastError: error } : undefined;
      return { section, problems: flowsProblems(section) };
    },
    host: () => host,
    async knownTypes() {
      if (!host) return undefined;
      const spec = 'node-red';
      const RED = ((await import(spec)) as { default: { nodes: { getNodeList(): { types?: string[]; enabled?: boolean }[] } } }).default;
      // Stand-ins for unknown types are registered outside any node set: they are not listed here.
      return [...new Set(RED.nodes.getNodeList().filter((n) => n.enabled !== false).flatMap((n) => n.types ?? []))].sort();
    },
  };
}

/** Configured devices with the points their driver knows, plus their perPoint entries. */
function knownPoints(ctx: ServiceCtx, deps: FlowsServiceDeps): { id: string; points: string[] }[] {
  const fromDrivers = new Map((deps.devices?.() ?? []).map((d) => [d.id, (d.points ?? []).map((p) => (typeof p === 'string' ? p : p.name))]));
  return ctx.config.devices.map((d) => ({ id: d.id, points: [...new Set([...(fromDrivers.get(d.id) ?? []), ...Object.keys(d.perPoint)])] }));
}

/** The devices as the birth message describes them; a bare point name becomes `{ name }`. */
function catalogOf(deps: FlowsServiceDeps): CatalogDevice[] {
  return (deps.devices?.() ?? []).map((d) => ({
    id: d.id,
    ...(d.driver ? { driver: d.driver } : {}),
    ...(d.points ? { points: d.points.map((p) => (typeof p === 'string' ? { name: p } : { ...p })) } : {}),
  }));
}
