// The agent's config as a deploy target: the YAML text validated through the same loader as the
// file (errors as `path: message (line N)`, without the pseudo file name), a deployed config may
// not move the state directory (the deploy state itself lives there), switched live through
// agent.reconfigure (runtime/reconfigure.ts: what cannot change live is reported as needsRestart
// and takes effect at the next start, which boots the deployed config: boot.ts).
import { ConfigError, type ConfigIssue, type WaysideConfig } from '../../../runtime/config/index.ts';
import type { ReconfigureResult } from '../../../runtime/service.ts';
import { CommandError } from '../../../runtime/uplink/index.ts';
import type { DeployTarget } from '../machine.ts';

export interface ConfigTargetDeps {
  /** Parses and validates config text like the config file (the composition root's loader and registry). */
  parse(text: string): WaysideConfig;
  reconfigure(next: WaysideConfig): Promise<ReconfigureResult>;
  /** The config in force now. */
  current(): WaysideConfig;
  /** What runs without any deployed config (the --config file the agent booted with). */
  boot(): WaysideConfig;
}

/** One line per issue, `path: message (line N)`; the file name the loader was given is left out. */
export function issueLines(issues: ConfigIssue[]): string[] {
  return issues.map((i) => `${i.path ? `${i.path}: ` : ''}${i.message}${i.line !== undefined ? ` (line ${i.line})` : ''}`);
}

/** Parses deployed config text; a CommandError `invalid_config` listing every problem. */
export function parseDeployed(parse: (text: string) => WaysideConfig, text: unknown): WaysideConfig {
  if (typeof text !== 'string' || !text.trim()) throw new CommandError('bad_request', 'yaml: expected the config file text (a non-empty string)');
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof ConfigError) throw new CommandError('invalid_config', issueLines(err.issues).join('\n'));
    throw new CommandError('invalid_config', (err as Error).message ?? String(err));
  }
}

export function configTarget(deps: ConfigTargetDeps): DeployTarget<string> {
  return {
    key: 'config',
    kind: 'config',
    async validate(content) {
      const next = parseDeployed(deps.parse, content);
      const cur = deps.current();
      if (next.gateway.stateDir !== cur.gateway.stateDir) {
        throw new CommandError('invalid_config', `gateway.stateDir: a deployed config cannot move the state directory (${cur.gateway.stateDir} -> ${next.gateway.stateDir}); change it in the local config file`);
      }
      return content as string;
    },
    async switch(text) {
      const next = text === undefined ? deps.boot() : parseDeployed(deps.parse, text);
      const r = await deps.reconfigure(next);
      return { ...r };
    },
  };
}
