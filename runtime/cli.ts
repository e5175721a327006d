// The `wayside` command: run | check | demo | version. The composition root (main.ts) hands in
// what the product is made of (driver families, services); this file knows none of them.
import { parseArgs } from 'node:util';
import { startAgent, WAYSIDE_VERSION } from './agent.ts';
import { ConfigError, formatIssue, parseDuration, readConfig, stateDirProblem, type DevicesCheck, type WaysideConfig } from './config/index.ts';
import { createDriverRegistry, type DriverDefinition, type DriverRegistry } from './drivers.ts';
import type { z } from 'zod';
import { AgentStartError } from './errors.ts';
import { createLog, createLogRing, isJournalStream } from './log.ts';
import type { SqliteOutbox } from './outbox/index.ts';
import { createSdNotify } from './sdnotify.ts';
import type { Service } from './service.ts';
import type { Log } from './types.ts';

/** What the composition root plugs into the CLI. */
export interface CliApp {
  /**
   * What one agent is made of, made fresh for each agent: its driver definitions (with their
   * own port registries) and its services in start order, over the registry the config was
   * loaded with. Made together so that a family and a service can share a part (the camera
   * family and the models service).
   */
  product(opts?: { configFile?: string }): { drivers: DriverDefinition[]; services(config: WaysideConfig, registry: DriverRegistry): Service[] };
  /**
   * The config `run` starts with, given the --config file's: e.g. the last version the platform
   * deployed, which overrides the file until rolled back (logged when it does).
   */
  bootConfig?(file: WaysideConfig, configFile: string, registry: DriverRegistry, log: Log): WaysideConfig;
  /**
   * Checks over all devices whatever their driver (e.g. two families on one serial port), run
   * by the config loader for `check`, `run` and `demo`; issues name the device by index.
   */
  configChecks?: DevicesCheck[];
  /** Top-level config sections the product's services own (see DriverRegistry.sections). */
  configSections?(): Record<string, z.ZodType>;
  /**
   * The product's own verbs (`wayside models list`): each gets the arguments after its name and
   * parses its own flags; returns the exit code. A thrown `CliUsageError` prints usage, exit 2.
   */
  verbs?: Record<string, { usage: string; run(argv: string[]): Promise<number> }>;
}

/** A mistake on a product verb's command line: one line on stderr, exit 2. */
export class CliUsageError extends Error {}

const USAGE = `wayside ${WAYSIDE_VERSION} - edge agent for sensing gateways and smart lamp poles

usage:
  wayside run --config <file>     run the agent
  wayside check --config <file>   validate a config file and exit (0 = valid)
  wayside doctor [--config <file>] [--json]
                                  what is wrong with this gateway and how to fix it: config,
                                  ports, devices, platform, clock, disk, flows (docs/doctor.md);
                                  exit 0 all pass, 1 a warning, 2 a failure
  wayside demo [--duration 30s] [--state <dir>]
                                  a simulated pole and a platform stand-in, no server needed;
                                  runs until Ctrl-C, or for the duration ("90s", "2m"; a bare
                                  number is seconds); --state keeps its files in <dir>
  wayside version                 print the version (also: --version, -V)
  wayside help                    this text (also: --help, -h)
`;

/** A mistake on the command line: one line and the usage on stderr, exit 2, no stack trace. */
class UsageError extends Error {}

// The agent's stop budget is 5 s (runtime/agent.ts); past this a stop is stuck.
const SIGNAL_GRACE_MS = 15_000;
const DEMO_MIN_MS = 1000;
const DEMO_MAX_MS = 86_400_000;

/** `--duration`: like config durations, a bare number is seconds. */
function demoDuration(text: string): number {
  let ms: number | undefined;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
  } catch {
    ms = undefined;
  }
  if (ms === undefined || ms < DEMO_MIN_MS || ms > DEMO_MAX_MS) {
    throw new UsageError(`--duration: expected a duration from 1s to 24h like "30s", "2m" or 90 (seconds), got ${JSON.stringify(text)}`);
  }
  return ms;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        duration: { type: 'string' },
        state: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    // parseArgs explains at length how to pass a positional starting with "-": keep the first sentence.
    throw new UsageError(String((err as Error).message).split(/\. /)[0].replace(/\.$/, ''));
  }
}

function usage(app: CliApp): string {
  const extra = Object.values(app.verbs ?? {}).map((v) => v.usage.replace(/\n$/, '') + '\n').join('');
  return USAGE.replace('  wayside version', `${extra}  wayside version`);
}

async function main(argv: string[], app: CliApp): Promise<number> {
  const verb = argv[0] !== undefined ? app.verbs?.[argv[0]] : undefined;
  if (verb) return verb.run(argv.slice(1));
  const { positionals, values } = parse(argv);
  const cmd = positionals[0];

  if (values.help || cmd === 'help') {
    process.stdout.write(usage(app));
    return 0;
  }
  if (values.version || cmd === 'version') {
    process.stdout.write(`wayside ${WAYSIDE_VERSION} node ${process.versions.node}\n`);
    return 0;
  }
  if (!cmd) throw new UsageError('missing command');
  if (!['run', 'check', 'demo', 'doctor'].includes(cmd)) throw new UsageError(`unknown command "${cmd}"`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const product = app.product({ configFile: values.config });
  const registry = createDriverRegistry(product.drivers, { sections: app.configSections?.() });
  const checks = app.configChecks;

  if (cmd === 'demo') {
    const durationMs = values.duration === undefined ? undefined : demoDuration(values.duration);
    const stateWhy = values.state === undefined ? undefined : stateDirProblem(values.state);
    if (stateWhy) throw new UsageError(`--state: ${stateWhy}`);
    const { runDemo } = await import('./demo.ts');
    await runDemo({ registry, services: (c) => product.services(c, registry), checks, durationMs, stateDir: values.state });
    return 0;
  }
  if (cmd === 'doctor') {
    // A config it cannot read is a failed check of the report, not a usage error.
    const { DEFAULT_CONFIG, doctorCommand } = await import('./doctor/index.ts');
    return doctorCommand({ configFile: values.config ?? DEFAULT_CONFIG, registry, checks, bootConfig: app.bootConfig, json: values.json ?? false, out: process.stdout });
  }
  if (!values.config) throw new UsageError(`${cmd}: --config <file> is required`);
  const { config: fileConfig, warnings } = readConfig(values.config, registry, { checks });
  if (cmd === 'check') {
    for (const w of warnings) process.stderr.write(formatIssue(w) + '\n');
    process.stdout.write(`${values.config}: ok (gateway ${fileConfig.gateway.id}, ${fileConfig.devices.length} devices, ${fileConfig.rules.length} rules)\n`);
    return 0;
  }
  // The last lines stay in memory for the `logs.tail` command.
  const logRing = createLogRing(500);
  const log = createLog({ level: fileConfig.log.level, ring: logRing });
  const config = app.bootConfig ? app.bootConfig(fileConfig, values.config, registry, log) : fileConfig;
  for (const w of warnings) log.warn({ mod: 'config', file: w.file, line: w.line, path: w.path }, w.message.replace(/^warning: /, ''));
  // Signals are taken from the first moment: a SIGTERM during start-up stops the agent as
  // soon as it is up, instead of killing it halfway; a start-up that never ends does not
  // keep the process alive past the grace period (systemd would otherwise SIGKILL it later).
  let signalled: NodeJS.Signals | undefined;
  let onStop: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    process.once(sig, () => process.exit(130)); // a second signal while stopping means "now"
    signalled = sig;
    setTimeout(() => {
      process.stderr.write(`wayside: still not stopped ${SIGNAL_GRACE_MS / 1000}s after ${sig}; exiting\n`);
      process.exit(1);
    }, SIGNAL_GRACE_MS).unref();
    onStop?.();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // systemd (Type=notify): READY=1 once started, watchdog pings while healthy, STOPPING=1; a no-op elsewhere.
  const notify = createSdNotify({ log });
  notify.status(`starting (gateway ${config.gateway.id})`);
  let agent;
  try {
    agent = await startAgent({ config, services: product.services(config, registry), log, durableJournal: process.env.WAYSIDE_DURABLE_JOURNAL, logRing });
  } catch (err) {
    // `systemctl status` shows it as the unit's Status line, beside the journal's stderr line.
    notify.status(`cannot start: ${(err as Error).message}`);
    await notify.close();
    throw err;
  }
  const started = agent;
  notify.ready(runningStatus(started, config.gateway.id));
  notify.watchdog(() => watchdogProblem(started.outbox as Partial<SqliteOutbox>, notify.watchdogMs ?? 0));
  // The Status line of `systemctl status` follows the uplink and the health (sent when it changes).
  const statusTimer = notify.enabled ? setInterval(() => notify.status(runningStatus(started, config.gateway.id)), STATUS_EVERY_MS).unref() : undefined;
  await new Promise<void>((resolve) => {
    onStop = resolve;
    if (signalled) resolve();
  });
  clearInterval(statusTimer);
  notify.stopping(`stopping (${signalled ?? 'stop'})`);
  await agent.stop(signalled);
  await notify.close();
  return 0;
}

const STATUS_EVERY_MS = 10_000;

/** One line for systemd's Status: the gateway, the uplink, and the first health problem if any. */
function runningStatus(agent: { health(): { status: string; problems: string[]; uplink: { enabled: boolean; connected: boolean; lastError?: string } } }, gateway: string): string {
  const h = agent.health();
  const u = h.uplink;
  const uplink = !u.enabled ? 'uplink off' : u.connected ? 'uplink connected' : u.lastError ? `uplink down: ${u.lastError}` : 'uplink connecting';
  const health = h.status === 'ok' ? 'ok' : `degraded: ${h.problems[0]}${h.problems.length > 1 ? ` (+${h.problems.length - 1} more)` : ''}`;
  return `running (gateway ${gateway}): ${uplink}; ${health}`;
}

/**
 * Why the agent should not tell systemd's watchdog it is alive, or undefined when it is fine.
 * The ping itself runs on the event loop (a blocked loop misses it); this adds the store: a write
 * or fdatasync that has not finished for a whole watchdog period means a wedged disk or worker.
 */
function watchdogProblem(outbox: Partial<SqliteOutbox>, periodMs: number): string | undefined {
  const stalled = outbox.stalledMs?.() ?? 0;
  if (stalled > Math.max(periodMs, 1000)) return `outbox: a write has not finished for ${Math.round(stalled / 1000)} s`;
  return undefined;
}

/** Runs the CLI and exits the process with its code. */
export function runCli(argv: string[], app: CliApp): void {
  // A bug must not leave a half-dead agent: log it and exit non-zero so systemd restarts us;
  // the outbox keeps every record that was reported durable.
  process.on('uncaughtException', (err) => {
    process.stderr.write(`wayside: uncaught exception: ${err.stack ?? err}\n`);
    process.exit(1);
  });

  main(argv, app).then(
    (code) => {
      process.exitCode = code;
      // Stragglers (sockets in TIME_WAIT callbacks, pino flush) must not hold the process.
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(err.message + '\n');
        process.exit(2);
      }
      if (err instanceof AgentStartError) {
        // A cause the user can act on (port in use, state dir not writable): one line, no stack.
        // Under systemd the line goes to the journal at priority err (`journalctl -p err`).
        process.stderr.write(`${isJournalStream(2) ? '<3>' : ''}wayside: cannot start: ${err.message}\n`);
        process.exit(1);
      }
      if (err instanceof UsageError) {
        process.stderr.write(`wayside: ${err.message}\n\n${usage(app)}`);
        process.exit(2);
      }
      if (err instanceof CliUsageError) {
        process.stderr.write(`wayside: ${err.message}\n`);
        process.exit(2);
      }
      // An operating-system refusal (port in use, permission denied) is the operator's to fix:
      // say what failed in one line. Anything else is a bug: the stack helps whoever reports it.
      const code = (err as NodeJS.ErrnoException)?.code;
      const sys = typeof code === 'string' && /^E[A-Z]+$/.test(code);
      process.stderr.write(`wayside: ${sys ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`);
      process.exit(1);
    },
  );
}
