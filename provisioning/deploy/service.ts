// The `deploy` service: remote deploys of flows, config and models through one state machine
// (machine.ts), the commands that drive it (commands.ts), the deployed versions in the birth
// message and in health. At start it finishes what boot.ts could not (an interrupted model
// install, flows already loaded by Node-RED) and makes sure the active deployed config is the
// one in force. Place it after the devices, flows and models services.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { FlowsService } from '../../flows/service.ts';
import { configSection, type WaysideConfig } from '../../runtime/config/index.ts';
import { about, int, section } from '../../runtime/config/fields.ts';
import { duration } from '../../runtime/config/units.ts';
import { emitEvent } from '../../runtime/events.ts';
import type { AgentHealth } from '../../runtime/health.ts';
import { same } from '../../runtime/reconfigure.ts';
import type { ReconfigureResult, Service, ServiceCtx, ServiceHealth } from '../../runtime/service.ts';
import type { DeviceHealth } from '../../runtime/types.ts';
import { recoverDeploy } from './boot.ts';
import { deployCommands, type DeployCommand } from './commands.ts';
import { createDeployMachine, pauseHook, type DeployMachine, type DeployReport, type HealthMark, type MachineOptions } from './machine.ts';
import { configTarget, parseDeployed } from './targets/config.ts';
import { flowsFile, flowsTarget, type FlowNodes } from './targets/flows.ts';
import { modelKey, modelTarget, type ModelContent, type ModelRegistryLike } from './targets/models.ts';
import { existsSync, readFileSync } from 'node:fs';

/** The `deploy:` config section (register it with the CLI's configSections). */
export function deploySection() {
  return section({
    keep: int(1, 100).default(5).describe('versions kept per target (flows, config, each model)'),
    healthWindow: about(duration('1s', '1h'), 'watched after each switch before a deploy is confirmed').prefault('30s'),
    maxNodeErrors: int(0, 1_000_000).default(0).describe('flow node errors allowed in the health window'),
  }).prefault({});
}
export type DeploySection = z.output<ReturnType<typeof deploySection>>;

/** The small part of the agent the deploy service uses (ServiceCtx gives it; tests may pass their own). */
export interface AgentLike {
  reconfigure(next: WaysideConfig): Promise<ReconfigureResult>;
  service<S extends Service = Service>(name: string): S | undefined;
  health(): unknown;
  config(): WaysideConfig;
}

export interface DeployServiceDeps {
  /** The agent (default: what the service ctx gives). */
  agent?: () => AgentLike;
  /** The models registry, when a models service runs. */
  models?: () => ModelRegistryLike | undefined;
  /** Parses config text like the --config file (`parseConfig(text, file, registry, env, { checks })`); without it config deploys are refused. */
  parseConfig?: (text: string, pseudoFile: string) => WaysideConfig;
  /** The --config file: deployed configs resolve relative paths against its folder (default ./wayside.yaml). */
  configFile?: string;
  /** Overrides of the `deploy:` section (tests). */
  options?: Partial<MachineOptions>;
}

export interface DeployService extends Service {
  machine(): DeployMachine | undefined;
  /** The handlers, by command name (also served through commands()). */
  handlers(): Record<string, DeployCommand>;
  /** The last report of a finished deploy or rollback. */
  last(): DeployReport | undefined;
}

export function createDeployService(deps: DeployServiceDeps = {}): DeployService {
  let ctx: ServiceCtx | undefined;
  let machine: DeployMachine | undefined;
  let handlers: Record<string, DeployCommand> = {};
  let bootConfig: WaysideConfig | undefined;
  let last: DeployReport | undefined;
  let problem: string | undefined;

  const agent = (): AgentLike => {
    if (deps.agent) return deps.agent();
    const c = ctx!;
    return { reconfigure: (n) => c.reconfigure!(n), service: (name) => c.service?.(name), health: () => c.health(), config: () => c.config };
  };
  const flows = () => agent().service<FlowsService>('flows');
  const pseudo = (v: number | string) => path.join(path.dirname(path.resolve(deps.configFile ?? 'wayside.yaml')), `deployed-config-v${v}.yaml`);
  const mark = (): HealthMark => {
    const h = agent().health() as Partial<AgentHealth>;
    const f = h.flows as { state?: string; nodeErrors?: number } | undefined;
    return {
      devicesOnline: ((h.devices ?? []) as DeviceHealth[]).filter((d) => d.state === 'online').length,
      flowsNodeErrors: f?.nodeErrors ?? 0,
      flowsRunning: f?.state === 'running',
      uplinkConnected: h.uplink?.connected === true,
    };
  };

  return {
    name: 'deploy',
    machine: () => machine,
    handlers: () => handlers,
    last: () => last,

    async start(c) {
      ctx = c;
      bootConfig = c.config;
      const sec = configSection<DeploySection>(c.config, 'deploy');
      const opts: MachineOptions = { keep: sec?.keep ?? 5, watchMs: sec?.healthWindow ?? 30_000, maxNodeErrors: sec?.maxNodeErrors ?? 0, ...deps.options };
      const stateDir = c.config.gateway.stateDir;
      const recovered = recoverDeploy(stateDir, c.log);
      machine = createDeployMachine(opts, {
        state: c.state,
        log: c.log,
        now: () => c.clock.now(),
        mono: () => c.clock.mono(),
        mark,
        event: (type, severity, data) => {
          if (type !== 'deploy.started') last = { ...(data as unknown as DeployReport), outcome: type === 'deploy.confirmed' ? 'confirmed' : type === 'deploy.rolled_back' ? 'rolled_back' : 'failed' };
          emitEvent(c, { type, severity, data });
        },
        probe: async (_r, spec) => probe(c, spec),
        step: pauseHook(c.state.path),
      });
      const parse = deps.parseConfig;
      const cfgTarget = parse
        ? configTarget({
            parse: (text) => parse(text, pseudo('new')),
            reconfigure: (n) => agent().reconfigure(n),
            current: () => agent().config(),
            boot: () => bootConfig!,
          })
        : undefined;
      const fTarget = flowsTarget({ flows, stateDir });
      const m = machine;
      handlers = deployCommands({
        machine: m,
        flows: fTarget,
        config: cfgTarget,
        model: (name) => modelTarget(name, () => deps.models?.()),
        models: () => deps.models?.(),
        activeFlows: () => {
          const a = m.versions('flows').active;
          const stored = a === undefined ? undefined : m.store('flows').get<FlowNodes>(a);
          if (stored) return stored;
          try {
            return existsSync(flowsFile(stateDir)) ? (JSON.parse(readFileSync(flowsFile(stateDir), 'utf8')) as unknown[]) : [];
          } catch {
            return [];
          }
        },
        activeConfig: () => {
          const a = m.versions('config').active;
          const yaml = a === undefined ? undefined : m.store('config').get<string>(a);
          return a === undefined || yaml === undefined ? undefined : { version: a, yaml };
        },
        modelKeys: () => targetNames(c.state.path),
      });

      // What boot.ts could not finish, and the config in force must be the active deployed one.
      try {
        if (recovered?.kind === 'flows' && recovered.restored !== undefined && flows()?.host()) {
          await fTarget.switch(m.store('flows').get<FlowNodes>(recovered.restored), recovered.restored);
        }
        if (recovered?.kind === 'model') {
          const name = recovered.target.slice('model-'.length);
          const good = m.versions(recovered.target).lastGood;
          await modelTarget(name, () => deps.models?.()).switch(good === undefined ? undefined : m.store(recovered.target).get<ModelContent>(good), good);
          c.state.write('journal.json', { open: false });
        }
        const active = m.versions('config').active;
        if (parse && active !== undefined) {
          const want = parseDeployed((t) => parse(t, pseudo(active)), m.store('config').get<string>(active));
          if (!same(want, c.config)) {
            c.log.warn({ version: active }, 'the agent did not boot with the active deployed config (wire bootConfig in the CLI); applying it live');
            await agent().reconfigure(want);
          }
        }
      } catch (err) {
        problem = `deploy recovery at start failed: ${(err as Error).message}`;
        c.log.error({ err: problem }, 'deploy recovery at start failed');
      }
    },

    async stop() {
      machine = undefined;
    },

    health(): ServiceHealth {
      if (!machine) return { section: undefined, problems: problem ? [problem] : [] };
      const v = (k: string) => {
        const s = machine!.versions(k);
        return { active: s.active ?? null, lastGood: s.lastGood ?? null };
      };
      const problems = problem ? [problem] : [];
      if (last?.outcome === 'failed') problems.push(`deploy of ${last.target} version ${last.version} failed and could not be rolled back: ${last.reason}`);
      return {
        section: {
          deploying: machine.busy(),
          flows: v('flows'),
          config: v('config'),
          models: Object.fromEntries(targetNames(ctx!.state.path).map((n) => [n, v(modelKey(n))])),
          ...(last ? { last } : {}),
        },
        problems,
      };
    },

    birth: () => {
      if (!machine) return {};
      const a = (k: string) => machine!.versions(k).active ?? null;
      return { deployed: { flows: a('flows'), config: a('config'), models: Object.fromEntries(targetNames(ctx!.state.path).map((n) => [n, a(modelKey(n))])) } };
    },

    commands: () => Object.fromEntries(Object.keys(handlers).map((name) => [name, (req: unknown) => handlers[name](req)])),
  };
}

/** Model names with a deploy directory. */
function targetNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.startsWith('model-')).map((d) => d.name.slice(6));
  } catch {
    return [];
  }
}

/** Probe `{ path: "/api/ping", status?: 200 }`: a GET on the agent's own HTTP server. */
async function probe(ctx: ServiceCtx, spec: unknown): Promise<string | undefined> {
  const s = spec as { path?: unknown; status?: unknown } | undefined;
  if (typeof s?.path !== 'string' || !s.path.startsWith('/')) return `probe: expected { "path": "/..." }, got ${JSON.stringify(spec)}`;
  if (!ctx.http) return 'probe: the agent has no HTTP server';
  const { host, port } = ctx.http.address();
  const want = typeof s.status === 'number' ? s.status : 200;
  try {
    const res = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${port}${s.path}`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status === want ? undefined : `probe GET ${s.path} answered ${res.status}, expected ${want}`;
  } catch (err) {
    return `probe GET ${s.path} failed: ${(err as Error).message}`;
  }
}
