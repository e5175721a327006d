// The one deploy state machine for flows, config and models:
//   validate -> store (last N versions kept) -> journal -> switch -> watch a health window
//   -> confirm | roll back automatically to the last good version -> report.
// The journal (<deploy state>/journal.json, atomic and fsync'd) is open from just before the switch
// until the outcome is recorded: a gateway that loses power or is killed in between boots into
// the last good version (boot.ts). One deploy runs at a time. The report is the command's answer
// and `deploy.*` events on the bus (so they reach the platform through the outbox, also when the
// deploy restarted the uplink).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../runtime/uplink/index.ts';
import type { StateDir } from '../../runtime/state.ts';
import type { Log } from '../../runtime/types.ts';
import { openVersions, type DeployKind, type TargetState, type VersionStore } from './history.ts';

/** A kind of thing deployed. `C` is its validated content (flows array, config text, model). */
export interface DeployTarget<C = unknown> {
  /** `flows`, `config`, `model-<name>`: its directory and its key in versions. */
  readonly key: string;
  readonly kind: DeployKind;
  /** Checks the content without applying it; throws a CommandError (`invalid`) saying what is wrong and where. */
  validate(content: unknown): Promise<C>;
  /** Applies `content`; undefined = back to what ran before any deploy (baseline). Returns details for the report. */
  switch(content: C | undefined, version: number | undefined): Promise<Record<string, unknown> | void>;
  /** What ran before the first deploy, stored as version 0 so it can be gone back to (flows); undefined: none. */
  baseline?(): Promise<C | undefined>;
  /** Extra health checks of this kind during the window: a reason when unhealthy now, else undefined. */
  check?(since: HealthMark): string | undefined;
}

/** Health readings taken before the switch, compared during and at the end of the window. */
export interface HealthMark {
  devicesOnline: number;
  flowsNodeErrors: number;
  flowsRunning: boolean;
  uplinkConnected: boolean;
}

export interface DeployReport {
  kind: DeployKind;
  target: string;
  version: number;
  previous?: number;
  outcome: 'confirmed' | 'rolled_back' | 'failed';
  durationMs: number;
  reason?: string;
  /** What the switch said (config: restarted / swapped / needsRestart). */
  details?: Record<string, unknown>;
}

export type DeployEventType = 'deploy.started' | 'deploy.confirmed' | 'deploy.rolled_back' | 'deploy.failed';

export interface MachineOptions {
  /** Versions kept per target (default 5). */
  keep: number;
  /** Health window after a switch (default 30 s). */
  watchMs: number;
  /** Node errors of the flows allowed during the window (default 0). */
  maxNodeErrors: number;
  /** How often the window is checked (default 250 ms). */
  pollMs?: number;
}

export interface MachineDeps {
  /** The deploy service's state dir. */
  state: StateDir;
  log: Log;
  now(): number;
  mono(): number;
  /** The agent's health now. */
  mark(): HealthMark;
  event(type: DeployEventType, severity: 'info' | 'warning', data: Record<string, unknown>): void;
  /** Optional probe run at the end of the window: a reason when it fails. */
  probe?(report: { target: string; version: number }, spec: unknown): Promise<string | undefined>;
  /** Test hook: called at each step; may hold the deploy there (WAYSIDE_DEPLOY_PAUSE). */
  step?(name: DeployStep): Promise<void>;
}

export type DeployStep = 'validated' | 'stored' | 'journaled' | 'switched' | 'watching' | 'decided';

export interface Journal {
  open: boolean;
  target?: string;
  kind?: DeployKind;
  version?: number;
  previous?: number;
  step?: DeployStep | 'rolling_back';
  startedAt?: number;
}

export const JOURNAL = 'journal.json';

export interface DeployRequest {
  version: unknown;
  content: unknown;
  /** A probe spec handed to deps.probe (e.g. `{ path: "/api/ping" }`). */
  probe?: unknown;
}

export interface Accepted {
  target: string;
  version: number;
  previous?: number;
  status: 'watching';
  watchMs: number;
}

export interface DeployMachine {
  /**
   * Runs a deploy. `accepted` resolves once the new version is validated and stored (or rejects:
   * `invalid`, `stale_version`, `deploy_in_progress`); `done` resolves with the outcome.
   */
  deploy(target: DeployTarget, req: DeployRequest): { accepted: Promise<Accepted>; done: Promise<DeployReport> };
  /** Back to `to` (default: the newest confirmed version before the active one), without a health window. */
  rollback(target: DeployTarget, to?: number): Promise<DeployReport>;
  versions(key: string): TargetState;
  store(key: string): VersionStore;
  busy(): boolean;
}

export function createDeployMachine(opts: MachineOptions, deps: MachineDeps): DeployMachine {
  const stores = new Map<string, VersionStore>();
  const store = (key: string) => {
    let s = stores.get(key);
    if (!s) stores.set(key, (s = openVersions(deps.state.sub(key), key)));
    return s;
  };
  let running = false;
  const step = async (name: DeployStep) => {
    await deps.step?.(name);
  };
  const journal = (j: Journal) => deps.state.write(JOURNAL, j);

  const report = (r: DeployReport) => {
    const type: DeployEventType = r.outcome === 'confirmed' ? 'deploy.confirmed' : r.outcome === 'rolled_back' ? 'deploy.rolled_back' : 'deploy.failed';
    deps.event(type, r.outcome === 'confirmed' ? 'info' : 'warning', { kind: r.kind, target: r.target, version: r.version, previous: r.previous ?? null, durationMs: r.durationMs, reason: r.reason ?? null, ...(r.details ? { details: r.details } : {}) });
    deps.log[r.outcome === 'confirmed' ? 'info' : 'warn']({ target: r.target, version: r.version, previous: r.previous, outcome: r.outcome, reason: r.reason, ms: r.durationMs }, `deploy ${r.outcome}`);
    return r;
  };

  /** Watches the health window; a reason when it failed. */
  const watch = async (target: DeployTarget, before: HealthMark, version: number, probe: unknown): Promise<string | undefined> => {
    const end = deps.mono() + opts.watchMs;
    const pollMs = opts.pollMs ?? 250;
    const early = (): string | undefined => {
      const now = deps.mark();
      if (target.kind === 'flows') {
        if (!now.flowsRunning) return 'flows not running';
        const errs = now.flowsNodeErrors - before.flowsNodeErrors;
        if (errs > opts.maxNodeErrors) return `flows reported ${errs} node errors in the health window (allowed ${opts.maxNodeErrors})`;
      }
      return target.check?.(before);
    };
    while (deps.mono() < end) {
      const why = early();
      if (why) return why;
      await sleep(Math.min(pollMs, Math.max(1, end - deps.mono())));
    }
    const why = early();
    if (why) return why;
    const after = deps.mark();
    if (after.devicesOnline < before.devicesOnline) return `devices online went from ${before.devicesOnline} to ${after.devicesOnline}`;
    if (before.uplinkConnected && !after.uplinkConnected) return 'the uplink is not connected at the end of the health window';
    if (probe !== undefined && deps.probe) return deps.probe({ target: target.key, version }, probe);
    return undefined;
  };

  const deploy: DeployMachine['deploy'] = (target, req) => {
    let accept!: (a: Accepted) => void;
    let refuse!: (e: unknown) => void;
    const accepted = new Promise<Accepted>((res, rej) => ((accept = res), (refuse = rej)));
    accepted.catch(() => undefined);
    const done = (async (): Promise<DeployReport> => {
      const t0 = deps.mono();
      const vs = store(target.key);
      const version = req.version;
      if (running) throw new CommandError('deploy_in_progress', 'another deploy is running; retry once it is confirmed or rolled back');
      if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw new CommandError('bad_request', `version: expected a positive integer, got ${JSON.stringify(version)}`);
      const st = vs.state();
      const newest = Math.max(st.active ?? 0, ...st.history.map((h) => h.version));
      if (version <= newest) throw new CommandError('stale_version', `${target.key} version ${version} is not newer than ${newest} (active: ${st.active ?? 'none'})`);
      running = true;
      try {
        const content = await target.validate(req.content);
        await step('validated');
        // Version 0: what ran before the first deploy, so there is something to go back to.
        if (st.lastGood === undefined && target.baseline) {
          const base = await target.baseline();
          if (base !== undefined) {
            vs.put(0, base);
            vs.setActive(0, true);
          }
        }
        vs.put(version, content);
        vs.prune(opts.keep);
        await step('stored');
        const previous = vs.state().active;
        accept({ target: target.key, version, previous, status: 'watching', watchMs: opts.watchMs });
        // Let the command's answer go out first: a config switch may restart the uplink it came on.
        await new Promise((r) => setImmediate(r));
        deps.event('deploy.started', 'info', { kind: target.kind, target: target.key, version, previous: previous ?? null });
        // Marks taken before the switch; the journal goes down before anything changes.
        const before = deps.mark();
        journal({ open: true, target: target.key, kind: target.kind, version, previous, step: 'journaled', startedAt: deps.now() });
        await step('journaled');
        let details: Record<string, unknown> | undefined;
        let why: string | undefined;
        try {
          details = (await target.switch(content, version)) ?? undefined;
          vs.setActive(version, false);
          journal({ open: true, target: target.key, kind: target.kind, version, previous, step: 'watching', startedAt: deps.now() });
          await step('switched');
          await step('watching');
          why = await watch(target, before, version, req.probe);
        } catch (err) {
          why = `switch failed: ${errText(err)}`;
        }
        await step('decided');
        if (!why) {
          vs.setActive(version, true);
          vs.record({ version, outcome: 'confirmed', at: deps.now(), previous, durationMs: Math.round(deps.mono() - t0) });
          journal({ open: false });
          vs.prune(opts.keep);
          return report({ kind: target.kind, target: target.key, version, previous, outcome: 'confirmed', durationMs: Math.round(deps.mono() - t0), details });
        }
        // Back to the last good version (or the baseline).
        journal({ open: true, target: target.key, kind: target.kind, version, previous, step: 'rolling_back', startedAt: deps.now() });
        const good = vs.state().lastGood;
        let outcome: 'rolled_back' | 'failed' = 'rolled_back';
        try {
          await target.switch(good === undefined ? undefined : vs.get(good), good);
          vs.setActive(good, true);
        } catch (err) {
          outcome = 'failed';
          why += `; rollback to ${good ?? 'the pre-deploy state'} failed too: ${errText(err)}`;
        }
        vs.record({ version, outcome, at: deps.now(), previous, reason: why, durationMs: Math.round(deps.mono() - t0) });
        journal({ open: false });
        return report({ kind: target.kind, target: target.key, version, previous, outcome, durationMs: Math.round(deps.mono() - t0), reason: why, details });
      } finally {
        running = false;
      }
    })();
    done.catch((err) => refuse(err));
    // A refusal before acceptance rejects `accepted` (and `done`, with the same error).
    void done.then(() => refuse(new Error('deploy ended before it was accepted')), () => undefined);
    return { accepted, done };
  };

  const rollback: DeployMachine['rollback'] = async (target, to) => {
    if (running) throw new CommandError('deploy_in_progress', 'a deploy is running; retry once it is confirmed or rolled back');
    const vs = store(target.key);
    const st = vs.state();
    const from = st.active;
    // By default the newest version before the active one that ran good (confirmed), or the baseline.
    const good = new Set([0, ...st.history.filter((h) => h.outcome === 'confirmed' || h.outcome === 'manual_rollback').map((h) => h.version)]);
    const candidates = st.stored.filter((v) => good.has(v) && v !== from && (from === undefined || v < from));
    // Without an earlier good version, a target with no stored baseline (config) goes back to what
    // ran before any deploy (the local config file): `dest` undefined.
    const toPredeploy = to === undefined && candidates.length === 0 && from !== undefined && !target.baseline;
    const dest = to ?? candidates.at(-1);
    if (dest === undefined && !toPredeploy) throw new CommandError('no_version', `${target.key}: no earlier version stored to roll back to`);
    if (dest !== undefined && !st.stored.includes(dest)) throw new CommandError('no_version', `${target.key}: version ${dest} is not stored (stored: ${st.stored.join(', ') || 'none'})`);
    running = true;
    const t0 = deps.mono();
    try {
      journal({ open: true, target: target.key, kind: target.kind, version: dest ?? 0, previous: from, step: 'journaled', startedAt: deps.now() });
      const details = (await target.switch(dest === undefined ? undefined : vs.get(dest), dest)) ?? undefined;
      vs.setActive(dest, true);
      vs.record({ version: dest ?? 0, outcome: 'manual_rollback', at: deps.now(), previous: from, durationMs: Math.round(deps.mono() - t0) });
      journal({ open: false });
      return report({ kind: target.kind, target: target.key, version: dest ?? 0, previous: from, outcome: 'rolled_back', reason: dest === undefined ? 'manual rollback to the local config file' : 'manual rollback', durationMs: Math.round(deps.mono() - t0), details });
    } catch (err) {
      // The switch did not happen (or only half): go back to what ran.
      journal({ open: false });
      throw err instanceof CommandError ? err : new CommandError('failed', `rollback of ${target.key} to ${dest} failed: ${errText(err)}`);
    } finally {
      running = false;
    }
  };

  return { deploy, rollback, versions: (key) => store(key).state(), store, busy: () => running };
}

/**
 * The test hook behind WAYSIDE_DEPLOY_PAUSE=<step>: at that step the deploy writes
 * `<dir>/paused-<step>` and waits forever (the kill test kills the agent there).
 */
export function pauseHook(dir: string, env: NodeJS.ProcessEnv = process.env): ((name: DeployStep) => Promise<void>) | undefined {
  const at = env.WAYSIDE_DEPLOY_PAUSE;
  if (!at) return undefined;
  return async (name) => {
    if (name !== at) return;
    writeFileSync(join(dir, `paused-${name}`), String(process.pid));
    await new Promise(() => undefined);
  };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
