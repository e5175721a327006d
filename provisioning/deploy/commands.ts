// The deploy commands, as plain async handlers `(payload) => result` (the lead wraps the
// mutating ones with the signature check). A deploy answers once the new version is validated
// and stored (`status: "watching"`); its outcome follows as `deploy.*` events and in
// `versions.get`. With `wait: true` the answer is the outcome itself (mind the command timeout:
// the health window must fit in it). Codes: `bad_request`, `invalid`, `invalid_config`,
// `unknown_node_types`, `checksum_mismatch`, `stale_version`, `deploy_in_progress`, `no_version`,
// `flows_unavailable`, `models_unavailable`, `config_unavailable`.
import { CommandError } from '../../runtime/uplink/index.ts';
import type { DeployMachine, DeployTarget } from './machine.ts';
import type { TargetState } from './history.ts';
import { modelKey, type ModelRegistryLike } from './targets/models.ts';

export type DeployCommand = (payload: unknown) => Promise<unknown>;

export interface CommandDeps {
  machine: DeployMachine;
  flows: DeployTarget;
  config?: DeployTarget;
  model(name: string): DeployTarget;
  models(): ModelRegistryLike | undefined;
  /** Active flows now (the stored active version, else what Node-RED runs from its file). */
  activeFlows(): unknown[];
  /** The active config text when a deployed one runs (undefined: the local file runs). */
  activeConfig(): { version: number; yaml: string } | undefined;
  /** Model names with deploy history. */
  modelKeys(): string[];
}

/** Names of the commands that change the gateway (to be signed). */
export const MUTATING = ['flows.deploy', 'flows.rollback', 'config.apply', 'config.rollback', 'model.install', 'model.remove'] as const;

export function deployCommands(d: CommandDeps): Record<string, DeployCommand> {
  const obj = (p: unknown): Record<string, unknown> => {
    if (p === undefined || p === null) return {};
    if (typeof p !== 'object' || Array.isArray(p)) throw new CommandError('bad_request', 'expected a JSON object');
    return p as Record<string, unknown>;
  };
  const run = async (target: DeployTarget, p: Record<string, unknown>, content: unknown) => {
    const { accepted, done } = d.machine.deploy(target, { version: p.version, content, probe: p.probe });
    if (p.wait === true) return done;
    done.catch(() => undefined);
    return accepted;
  };
  const rollbackTo = (p: Record<string, unknown>): number | undefined => {
    if (p.to === undefined) return undefined;
    if (typeof p.to !== 'number' || !Number.isSafeInteger(p.to) || p.to < 0) throw new CommandError('bad_request', `to: expected a version number, got ${JSON.stringify(p.to)}`);
    return p.to;
  };
  const configTarget = () => {
    if (!d.config) throw new CommandError('config_unavailable', 'config deploys are not wired on this gateway (no config parser given to the deploy service)');
    return d.config;
  };
  const modelName = (p: Record<string, unknown>, from: unknown): string => {
    if (typeof from !== 'string' || !from) throw new CommandError('bad_request', 'expected the model name (manifest.name or name)');
    return from;
  };
  const view = (s: TargetState) => ({ active: s.active ?? null, lastGood: s.lastGood ?? null, stored: s.stored, history: s.history });

  return {
    'flows.get': async () => {
      const s = d.machine.versions('flows');
      return { version: s.active ?? null, flows: d.activeFlows() };
    },
    'flows.deploy': async (payload) => {
      const p = obj(payload);
      if (!Array.isArray(p.flows)) throw new CommandError('bad_request', 'flows: expected the array of flow nodes');
      return run(d.flows, p, p.flows);
    },
    'flows.rollback': async (payload) => d.machine.rollback(d.flows, rollbackTo(obj(payload))),
    'config.get': async () => {
      const a = d.activeConfig();
      return a ? { version: a.version, source: 'deployed', yaml: a.yaml } : { version: null, source: 'file', yaml: null };
    },
    'config.apply': async (payload) => {
      const p = obj(payload);
      return run(configTarget(), p, p.yaml);
    },
    'config.rollback': async (payload) => d.machine.rollback(configTarget(), rollbackTo(obj(payload))),
    'model.install': async (payload) => {
      const p = obj(payload);
      const manifest = obj(p.manifest);
      return run(d.model(modelName(p, manifest.name)), p, { manifest: p.manifest, bytes: p.bytes });
    },
    'model.remove': async (payload) => {
      const p = obj(payload);
      const name = modelName(p, p.name);
      const reg = d.models();
      if (!reg) throw new CommandError('models_unavailable', 'no models service runs on this gateway');
      if (d.machine.busy()) throw new CommandError('deploy_in_progress', 'a deploy is running; retry once it is confirmed or rolled back');
      if (!reg.list().some((m) => m.name === name)) throw new CommandError('no_version', `model "${name}" is not installed`);
      await reg.remove(name);
      const vs = d.machine.store(modelKey(name));
      vs.setActive(undefined, true);
      return { removed: name };
    },
    'versions.get': async () => ({
      flows: view(d.machine.versions('flows')),
      config: view(d.machine.versions('config')),
      models: Object.fromEntries(d.modelKeys().map((name) => [name, view(d.machine.versions(modelKey(name)))])),
    }),
  };
}
