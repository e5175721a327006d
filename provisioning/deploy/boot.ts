// What a gateway boots into after a deploy: an unfinished deploy (power cut or kill -9 between
// the journal and the outcome) is undone before anything starts: the target's active version
// goes back to its last good one, the flows file Node-RED loads is rewritten with it, and the
// history says `interrupted`. The config the agent boots with is then the active deployed one,
// if any (bootConfig), else the --config file. Models need their registry: that part is left
// to the deploy service's start (the journal stays open for it).
import path from 'node:path';
import type { WaysideConfig } from '../../runtime/config/index.ts';
import { stateDir as openStateDir, type StateDir } from '../../runtime/state.ts';
import type { Log } from '../../runtime/types.ts';
import { openVersions } from './history.ts';
import { JOURNAL, type Journal } from './machine.ts';
import { writeFlowsFile, type FlowNodes } from './targets/flows.ts';

/** The deploy service's state directory (`<stateDir>/deploy`). */
export function deployDir(stateDir: string): StateDir {
  return openStateDir(path.join(stateDir, 'deploy'));
}

export interface Recovered {
  target: string;
  kind: Journal['kind'];
  /** The version that was being deployed (now marked interrupted). */
  version: number;
  /** The step it was at. */
  step?: Journal['step'];
  /** What is active now (the last good; undefined = the pre-deploy state). */
  restored?: number;
}

/** Undoes an unfinished deploy, if the journal says there is one. Idempotent. */
export function recoverDeploy(stateDir: string, log?: Log): Recovered | undefined {
  const dir = deployDir(stateDir);
  const j = dir.read<Journal>(JOURNAL);
  if (!j?.open || !j.target || j.version === undefined) return undefined;
  const vs = openVersions(dir.sub(j.target), j.target);
  const good = vs.state().lastGood;
  if (j.step !== 'rolling_back' || vs.state().active !== good) {
    vs.setActive(good, true);
  }
  if (!vs.state().history.some((h) => h.version === j.version)) {
    vs.record({ version: j.version, outcome: 'interrupted', at: Date.now(), previous: j.previous, reason: `the gateway stopped during the deploy (step ${j.step}); booted into ${good ?? 'the pre-deploy state'}` });
  }
  if (j.kind === 'flows' && good !== undefined) {
    const flows = vs.get<FlowNodes>(good);
    if (flows) writeFlowsFile(stateDir, flows);
  }
  // A model needs its registry: the deploy service finishes it (and closes the journal) at start.
  if (j.kind !== 'model') dir.write(JOURNAL, { open: false } satisfies Journal);
  else dir.write(JOURNAL, { ...j, step: 'rolling_back' } satisfies Journal);
  log?.warn({ mod: 'deploy', target: j.target, version: j.version, step: j.step, restored: good ?? null }, 'an unfinished deploy was undone at boot; the last good version runs');
  return { target: j.target, kind: j.kind, version: j.version, step: j.step, restored: good };
}

/** The active deployed config (after undoing an unfinished deploy), or undefined when none. */
export function deployedConfig(stateDir: string, log?: Log): { version: number; yaml: string } | undefined {
  recoverDeploy(stateDir, log);
  const vs = openVersions(deployDir(stateDir).sub('config'), 'config');
  const active = vs.state().active;
  if (active === undefined) return undefined;
  const yaml = vs.get<string>(active);
  return yaml === undefined ? undefined : { version: active, yaml };
}

/**
 * The config to boot with: the deployed one when there is one (parsed like the file, relative
 * paths against the file's folder), else the file's. A deployed config that no longer parses
 * (a secret's env variable gone) is logged and the file's is used.
 */
export function bootConfig(opts: { file: WaysideConfig; configFile: string; parse(text: string, pseudoFile: string): WaysideConfig; log: Log }): WaysideConfig {
  const deployed = deployedConfig(opts.file.gateway.stateDir, opts.log);
  if (!deployed) return opts.file;
  const pseudo = path.join(path.dirname(path.resolve(opts.configFile)), `deployed-config-v${deployed.version}.yaml`);
  try {
    const config = opts.parse(deployed.yaml, pseudo);
    opts.log.warn({ mod: 'deploy', version: deployed.version, file: opts.configFile }, `running the deployed config version ${deployed.version}; it overrides ${opts.configFile} (config.rollback or a newer config.apply changes it)`);
    return config;
  } catch (err) {
    opts.log.error({ mod: 'deploy', version: deployed.version, err: (err as Error).message }, `the deployed config version ${deployed.version} does not load; running ${opts.configFile}`);
    return opts.file;
  }
}
