// `wayside doctor`: what is wrong with this gateway and how to fix it, in under ten seconds.
// Reads the config, then checks in parallel: the running agent, serial ports, each device
// (through its driver, or the running agent's health), the platform step by step, the clock,
// the disk, and the flows. docs/doctor.md lists every check, status, hint and the JSON shape.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigError, readConfig, type DeviceConfig, type DevicesCheck, type WaysideConfig } from '../config/index.ts';
import type { DriverRegistry } from '../drivers.ts';
import { silentLog } from '../log.ts';
import type { Log } from '../types.ts';
import { errorText, runChain, runCheck, seconds, type Check, type CheckResult, type Outcome } from './check.ts';
import { findAgent, type RunningAgent } from './agent.ts';
import { deviceFromAgent, probeDevice } from './devices.ts';
import { platformChecks } from './platform.ts';
import { checkPort, scanProcesses } from './ports.ts';
import { makeReport, renderJson, renderText, type DoctorReport } from './render.ts';
import { checkClock, checkDisk } from './system.ts';

export { exitCode, type CheckResult, type CheckStatus } from './check.ts';
export type { DoctorReport } from './render.ts';

/** Where the packaged agent's config lives (packaging/systemd/wayside.service). */
export const DEFAULT_CONFIG = '/etc/wayside/wayside.yaml';

export interface DoctorOptions {
  configFile: string;
  /** The registry the CLI built (the product's driver families and config sections). */
  registry: DriverRegistry;
  /** The product's checks across devices (CliApp.configChecks). */
  checks?: DevicesCheck[];
  /** The product's boot config (CliApp.bootConfig): the last deployed config overrides the file. */
  bootConfig?(file: WaysideConfig, configFile: string, registry: DriverRegistry, log: Log): WaysideConfig;
  /** Bounds (tests shorten them): one device read, one platform step, the agent's /healthz. */
  timeouts?: { deviceMs?: number; stepMs?: number; healthMs?: number };
}

const DEVICE_MS = 4000;
const STEP_MS = 3000;
const PLATFORM_BUDGET_MS = 8000;
const HEALTH_MS = 1500;

/** Runs every check; never rejects. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const t0 = performance.now();
  const file = path.resolve(opts.configFile);
  const loaded = loadConfig(file, opts);
  if (!loaded.config) return makeReport(file, undefined, [loaded.result], performance.now() - t0);
  const config = loaded.config;
  const deviceMs = opts.timeouts?.deviceMs ?? DEVICE_MS;
  const stepMs = opts.timeouts?.stepMs ?? STEP_MS;

  const platform = async (): Promise<CheckResult[]> => {
    if (!config.uplink.enabled) return [{ id: 'platform', title: 'platform', status: 'skip', detail: 'uplink.enabled is false: the gateway runs without a platform', ms: 0 }];
    const chain = platformChecks(config.uplink, config.gateway.id, { stepMs });
    try {
      return await runChain(chain.steps, PLATFORM_BUDGET_MS);
    } finally {
      await chain.close();
    }
  };

  const local = async (): Promise<{ head: CheckResult[]; tail: CheckResult[]; agent: RunningAgent }> => {
    const agent = await findAgent(file, config, opts.timeouts?.healthMs ?? HEALTH_MS);
    const agentResult = await runCheck({ id: 'agent', title: 'agent', timeoutMs: 1000, run: async () => agentOutcome(agent, file) });
    const enabled = config.devices.filter((d) => d.enabled);
    // Ports in config order, each with the devices on it.
    const users = new Map<string, string[]>();
    const portsOf = new Map<string, string[]>();
    for (const d of enabled) {
      let list: string[] = [];
      try {
        list = opts.registry.get(d.driver)?.ports?.(d) ?? [];
      } catch {
        list = [];
      }
      portsOf.set(d.id, list);
      for (const p of list) users.set(p, [...(users.get(p) ?? []), d.id]);
    }
    const agentRunning = agent.pids.length > 0 || agent.health !== undefined;
    const findings = new Map<string, Outcome>();
    const procs = users.size ? scanProcesses() : undefined;
    const portResults = await Promise.all([...users].map(([p, ids]) => runCheck({
      id: `port:${p}`, title: `port ${p}`, timeoutMs: 2000,
      run: async () => {
        const { blocked: _, agentPid: __, ...f } = checkPort(p, ids, { agentPids: agent.pids, agentRunning, holders: procs?.holders, providers: procs?.providers });
        findings.set(p, f);
        return f;
      },
    })));
    const deviceResults = await Promise.all(enabled.map((d) => runCheck({
      id: `device:${d.id}`, title: `device ${d.id}`, timeoutMs: deviceMs + 3000,
      run: () => deviceOutcome(d, portsOf.get(d.id) ?? [], findings, agent, opts.registry, deviceMs),
    })));
    const tail = await Promise.all([
      runCheck({ id: 'agent.uplink', title: 'agent: uplink', timeoutMs: 1000, run: async () => agentUplink(agent, config) }),
      runCheck({ id: 'outbox', title: 'outbox', timeoutMs: 1000, run: async () => outboxOutcome(agent) }),
      runCheck({ id: 'flows', title: 'flows', timeoutMs: 1000, run: async () => flowsOutcome(agent, config) }),
    ]);
    return { head: [agentResult, ...portResults, ...deviceResults], tail, agent };
  };

  const localRun = local();
  const [platformResults, localResults] = await Promise.all([platform(), localRun]);
  const agent = localResults.agent;
  const [clock, disk] = await Promise.all([
    runCheck({ id: 'clock', title: 'clock', timeoutMs: 5000, run: () => checkClock(config, { agentTrusted: agent.health?.clock?.trusted }) }),
    runCheck({ id: 'disk', title: 'disk', timeoutMs: 2000, run: async () => checkDisk(config) }),
  ]);
  const all = [loaded.result, ...localResults.head, ...platformResults, ...localResults.tail, clock, disk];
  return makeReport(file, config.gateway.id, all, performance.now() - t0);
}

function loadConfig(file: string, opts: DoctorOptions): { result: CheckResult; config?: WaysideConfig } {
  const t0 = performance.now();
  const result = (o: Outcome): CheckResult => ({ id: 'config', title: 'config', ...o, ms: Math.round(performance.now() - t0) });
  try {
    const { config: fileConfig, warnings } = readConfig(file, opts.registry, { checks: opts.checks });
    let config = fileConfig;
    let deployed = '';
    if (opts.bootConfig) {
      try {
        config = opts.bootConfig(fileConfig, file, opts.registry, silentLog());
        if (config !== fileConfig) deployed = '; the platform\'s last deployed config overrides the file: doctor checks that one';
      } catch (err) {
        return { result: result({ status: 'fail', detail: `the deployed config cannot be used: ${errorText(err)}`, hint: 'roll the deployment back from the platform' }), config: fileConfig };
      }
    }
    const enabled = config.devices.filter((d) => d.enabled).length;
    const what = `valid: gateway ${config.gateway.id}, ${config.devices.length} device${config.devices.length === 1 ? '' : 's'} (${enabled} enabled), ${config.rules.length} rule${config.rules.length === 1 ? '' : 's'}${deployed}`;
    if (warnings.length) {
      const w = warnings[0];
      return { result: result({ status: 'warn', detail: `${what}; ${warnings.length} warning${warnings.length === 1 ? '' : 's'}: ${w.path ? w.path + ': ' : ''}${w.message.replace(/^warning: /, '')}`, hint: `\`wayside check --config ${file}\` lists them with their lines` }), config };
    }
    return { result: result({ status: 'pass', detail: what }), config };
  } catch (err) {
    if (err instanceof ConfigError) {
      const lines = err.message.split('\n');
      const more = lines.length > 3 ? ` (+${lines.length - 3} more)` : '';
      const unread = /cannot read config file .*: (.*)$/.exec(lines[0])?.[1];
      const hint = unread === 'no such file'
        ? 'name the file: wayside doctor --config <file>'
        : unread === 'permission denied'
          ? 'run doctor as the agent\'s user (sudo -u wayside wayside doctor) or as root'
          : unread !== undefined ? 'name a config file: wayside doctor --config <file>' : `fix the lines named; \`wayside check --config ${file}\` lists every problem`;
      return { result: result({ status: 'fail', detail: lines.slice(0, 3).join('; ') + more, hint }) };
    }
    return { result: result({ status: 'fail', detail: `the config cannot be loaded: ${errorText(err)}`, hint: `\`wayside check --config ${file}\` says more` }) };
  }
}

function agentOutcome(agent: RunningAgent, file: string): Outcome {
  const pids = agent.pids.length ? ` (pid ${agent.pids.join(', ')})` : '';
  const h = agent.health;
  if (h) {
    const up = h.uptimeS >= 120 ? `${Math.round(h.uptimeS / 60)} min` : `${h.uptimeS} s`;
    if (h.status === 'ok') return { status: 'pass', detail: `running${pids}, up ${up}, health ok (${agent.url})` };
    const problems = h.problems.slice(0, 3).join('; ') + (h.problems.length > 3 ? ` (+${h.problems.length - 3} more)` : '');
    return { status: 'warn', detail: `running${pids}, up ${up}, degraded: ${problems}`, hint: `the checks below name the causes; ${agent.url} has the whole health document` };
  }
  if (agent.pids.length) {
    return {
      status: 'warn',
      detail: `running${pids}, but its health cannot be read: ${agent.healthProblem}`,
      hint: 'set http.enabled: true (host 127.0.0.1) so doctor can see the running agent\'s devices, uplink and flows; or stop the agent and run doctor again',
    };
  }
  return {
    status: 'warn',
    detail: `not running: no \`wayside run --config ${file}\` process${agent.healthProblem ? `, ${agent.healthProblem}` : ''}`,
    hint: 'start it: sudo systemctl start wayside; if it stops again, journalctl -u wayside -n 50 says why',
  };
}

async function deviceOutcome(d: DeviceConfig, ports: string[], findings: Map<string, Outcome>, agent: RunningAgent, registry: DriverRegistry, deviceMs: number): Promise<Outcome> {
  if (agent.health) return deviceFromAgent(d.id, agent.health);
  const bad = ports.find((p) => findings.get(p)?.status === 'fail');
  if (bad) return { status: 'skip', detail: `not read: port ${bad} failed its check (${findings.get(bad)!.detail.split(' (used by')[0]})` };
  if (agent.pids.length) {
    return {
      status: 'warn',
      detail: `not read: the running agent (pid ${agent.pids.join(', ')}) owns it, and its health cannot be read`,
      hint: 'set http.enabled: true so doctor can read the device\'s state from the agent, or stop the agent and run doctor again',
    };
  }
  return probeDevice(registry, d, { timeoutMs: deviceMs, log: silentLog() });
}

function agentUplink(agent: RunningAgent, config: WaysideConfig): Outcome {
  if (!config.uplink.enabled) return { status: 'skip', detail: 'uplink.enabled is false' };
  const u = agent.health?.uplink;
  if (!agent.health || !u) return { status: 'skip', detail: 'the running agent\'s health is not available (see the agent check)' };
  if (u.connected) return { status: 'pass', detail: `the running agent is connected to the platform${u.since ? ` since ${new Date(u.since).toISOString().replace(/\.\d+Z$/, 'Z')}` : ''}` };
  return { status: 'warn', detail: `the running agent is not connected${u.lastError ? `: ${u.lastError}` : ''}`, hint: 'the platform checks above show which step fails; the agent retries with backoff on its own' };
}

function outboxOutcome(agent: RunningAgent): Outcome {
  const o = agent.health?.outbox;
  if (!o) return { status: 'skip', detail: 'the running agent\'s health is not available (see the agent check)' };
  const state = `${o.depth} record${o.depth === 1 ? '' : 's'} waiting, oldest ${seconds(o.oldestAgeMs)}`;
  if (o.diskFull) return { status: 'fail', detail: `${state}; the disk is full: records are held in memory`, hint: 'free space on the state filesystem (see the disk check)' };
  if (o.setAside > 0) return { status: 'warn', detail: `${state}; ${o.setAside} record(s) the platform refused are set aside (dead letter)`, hint: 'the broker refuses some topics: see the ACL check, docs/outbox.md (dead letter)' };
  if (o.dropped > 0) return { status: 'warn', detail: `${state}; ${o.dropped} record(s) dropped (cap or age)`, hint: 'the platform was away longer than the outbox holds: raise outbox.maxBytes or maxAge if the disk allows' };
  return { status: 'pass', detail: state };
}

function flowsOutcome(agent: RunningAgent, config: WaysideConfig): Outcome {
  const cfg = config.flows;
  if (cfg.enabled === false) return { status: 'skip', detail: 'flows are off (flows.enabled: false)' };
  const f = agent.health?.flows;
  if (!agent.health) {
    // Wanted: forced on, the editor on, or flows deployed (<stateDir>/flows/flows.json, docs/flows.md).
    const deployed = existsSync(path.join(config.gateway.stateDir, 'flows', 'flows.json'));
    if (cfg.enabled === true || cfg.editor.enabled || deployed) return { status: 'warn', detail: `cannot tell whether the flows run${deployed ? ' (flows are deployed)' : ''}: the running agent's health is not available`, hint: 'start the agent with http.enabled: true and run doctor again' };
    return { status: 'skip', detail: 'cannot tell without the running agent (flows run only when some are deployed)' };
  }
  if (!f) return { status: 'skip', detail: 'no flows deployed (Node-RED not loaded)' };
  if (f.state !== 'running') return { status: 'fail', detail: `flows ${f.state}${f.lastError ? `: ${f.lastError}` : ''}`, hint: 'journalctl -u wayside | grep -i flows shows why; redeploy the flows or roll them back from the platform' };
  const what = `running: ${f.flows ?? 0} flow${f.flows === 1 ? '' : 's'}, ${f.nodes ?? 0} nodes`;
  if (f.unknownTypes?.length) return { status: 'warn', detail: `${what}; unknown node types: ${f.unknownTypes.join(', ')} (those nodes do nothing)`, hint: 'install the node modules the flows need, or deploy flows without them' };
  if ((f.nodeErrors ?? 0) > 0) return { status: 'warn', detail: `${what}; ${f.nodeErrors} node error(s) since start`, hint: 'the flows health in /healthz names the failing nodes and their last error' };
  return { status: 'pass', detail: what };
}

export interface DoctorCliOptions extends DoctorOptions {
  json: boolean;
  out: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Runs doctor, prints the report (text or JSON) and returns the exit code: 0 pass, 1 warn, 2 fail. */
export async function doctorCommand(opts: DoctorCliOptions): Promise<number> {
  const report = await runDoctor(opts);
  opts.out.write(opts.json ? renderJson(report) : renderText(report, { color: !!opts.out.isTTY && !process.env.NO_COLOR }));
  return report.exitCode;
}
