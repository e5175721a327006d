// The `wayside` command: run | check | demo | version. The composition root (main.ts) hands in
// what the product is made of (driver families, services); this file knows none of them.
import { parseArgs } from 'node:util';
import { startAgent, WAYSIDE_VERSION } from './agent.ts';
import { ConfigError, loadConfig, parseDuration, type WaysideConfig } from './config/index.ts';
import { createDriverRegistry, type DriverDefinition, type DriverRegistry } from './drivers.ts';
import { AgentStartError } from './errors.ts';
import { createLog } from './log.ts';
import type { Service } from './service.ts';

/** What the composition root plugs into the CLI. */
export interface CliApp {
  /** Fresh driver definitions (each call: its own port registries). */
  drivers(): DriverDefinition[];
  /** The services of one agent, in start order, over the registry the config was loaded with. */
  services(config: WaysideConfig, registry: DriverRegistry): Service[];
}

const USAGE = `wayside ${WAYSIDE_VERSION} - edge agent for sensing gateways and smart lamp poles

usage:
  wayside run --config <file>     run the agent
  wayside check --config <file>   validate a config file and exit (0 = valid)
  wayside demo [--duration 30s]   a simulated pole and a platform stand-in, no server needed
  wayside version
`;

async function main(argv: string[], app: CliApp): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      duration: { type: 'string' },
      state: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const cmd = positionals[0];
  const registry = createDriverRegistry(app.drivers());

  if (values.help || !cmd) {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === 'version') {
    process.stdout.write(`wayside ${WAYSIDE_VERSION} node ${process.versions.node}\n`);
    return 0;
  }
  if (cmd === 'demo') {
    const { runDemo } = await import('./demo.ts');
    await runDemo({ registry, services: (c) => app.services(c, registry), durationMs: values.duration ? parseDuration(values.duration) : undefined, stateDir: values.state });
    return 0;
  }
  if (cmd === 'run' || cmd === 'check') {
    if (!values.config) {
      process.stderr.write(`wayside ${cmd}: --config <file> is required\n`);
      return 2;
    }
    const config = loadConfig(values.config, registry);
    if (cmd === 'check') {
      process.stdout.write(`${values.config}: ok (gateway ${config.gateway.id}, ${config.devices.length} devices, ${config.rules.length} rules)\n`);
      return 0;
    }
    const log = createLog({ level: config.log.level });
    // Signals are taken from the first moment: a SIGTERM during start-up stops the agent as
    // soon as it is up, instead of killing it halfway.
    let signalled: NodeJS.Signals | undefined;
    let onStop: (() => void) | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      process.once(sig, () => process.exit(130)); // a second signal while stopping means "now"
      signalled = sig;
      onStop?.();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    const agent = await startAgent({ config, registry, services: app.services(config, registry), log, durableJournal: process.env.WAYSIDE_DURABLE_JOURNAL });
    await new Promise<void>((resolve) => {
      onStop = resolve;
      if (signalled) resolve();
    });
    await agent.stop(signalled);
    return 0;
  }
  process.stderr.write(`wayside: unknown command "${cmd}"\n${USAGE}`);
  return 2;
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
        process.stderr.write(`wayside: cannot start: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`wayside: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
