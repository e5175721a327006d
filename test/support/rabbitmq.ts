// Test harness: a real RabbitMQ cluster (Debian `rabbitmq-server`, its `rabbitmq_mqtt` plugin)
// started by the test on loopback as the current user. Each node has its own node name
// (rabbit<i>@localhost), AMQP, MQTT and Erlang distribution ports (free ports), and its
// mnesia/log directories in a temp dir; the nodes share an Erlang cookie file (HOME points at
// the temp dir) and an epmd of their own on a free port (ERL_EPMD_PORT, loopback only), killed
// at the end. Node 2.. join node 1 with `rabbitmqctl stop_app; join_cluster; start_app`.
// Users, permissions and topic permissions go in with one `rabbitmqctl import_definitions`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/mosquitto.ts';
import { sleep } from '../helpers/wait.ts';

const BIN = '/usr/lib/rabbitmq/bin';
const EPMD_CANDIDATES = ['/usr/bin/epmd', '/usr/lib/erlang/bin/epmd'];
const run = promisify(execFile);

export function rabbitmqAvailable(): boolean {
  return existsSync(join(BIN, 'rabbitmq-server')) && existsSync(join(BIN, 'rabbitmqctl'));
}

export interface RabbitUser {
  name: string;
  password: string;
  /** Regexes over AMQP resource names (configure, write, read); default all ".*". */
  permissions?: { configure: string; write: string; read: string };
  /** Topic permissions on amq.topic (the MQTT plugin's exchange): regexes over routing keys (MQTT `/` is `.`); `{username}` and `{client_id}` are expanded. */
  topic?: { write: string; read: string };
}

export interface RabbitNode {
  name: string;
  mqttPort: number;
  /** mqtt://127.0.0.1:<mqttPort> */
  mqttUrl: string;
  amqpPort: number;
  distPort: number;
}

export interface RabbitCluster {
  nodes: RabbitNode[];
  dir: string;
  /** RabbitMQ version of node 1 (e.g. 3.10.8). */
  version: string;
  /** rabbitmqctl against a node (its stdout). */
  ctl(node: RabbitNode, ...args: string[]): Promise<string>;
  /** Node names the cluster reports running (cluster_status of node 1). */
  running(): Promise<string[]>;
  /** Last lines of a node's console output, for failure messages. */
  logs(node: RabbitNode): string;
  /** Stops every node and epmd, removes the temp dir. */
  destroy(): Promise<void>;
}

export interface RabbitClusterOptions {
  nodes?: number;
  users?: RabbitUser[];
  /** Anonymous MQTT clients connect as guest (default false: credentials required). */
  allowAnonymous?: boolean;
  /** Per-node start timeout (default 45 s). */
  startTimeoutMs?: number;
}

// Nodes still running when the test process exits are killed, so a failed test leaves no orphan.
const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of alive) p.kill('SIGKILL');
});

/** The `rabbit_password_hashing_sha256` hash RabbitMQ definitions carry: base64(salt ++ sha256(salt ++ password)). */
export function rabbitPasswordHash(password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from(password, 'utf8')])).digest()]).toString('base64');
}

export async function startRabbitCluster(opts: RabbitClusterOptions = {}): Promise<RabbitCluster> {
  if (!rabbitmqAvailable()) throw new Error(`rabbitmq-server is not installed (${BIN}/rabbitmq-server missing): run \`bash scripts/ensure-system-deps.sh\``);
  const count = opts.nodes ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'wayside-rabbit-'));
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const cookie = join(home, '.erlang.cookie');
  writeFileSync(cookie, randomBytes(20).toString('hex').toUpperCase());
  chmodSync(cookie, 0o400);
  const envFile = join(dir, 'rabbitmq-env.conf');
  writeFileSync(envFile, '# empty: keeps /etc/rabbitmq/rabbitmq-env.conf out of the test\n');
  const epmdPort = await freePort();
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_CONF_ENV_FILE: envFile,
    LC_ALL: 'C.UTF-8',
  };

  const nodes: (RabbitNode & { env: NodeJS.ProcessEnv })[] = [];
  for (let i = 1; i <= count; i++) {
    const [amqpPort, mqttPort, distPort] = [await freePort(), await freePort(), await freePort()];
    const base = join(dir, `node${i}`);
    mkdirSync(base, { recursive: true });
    const conf = join(base, 'rabbitmq.conf');
    writeFileSync(
      conf,
      [
        `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
        `mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`,
        `mqtt.allow_anonymous = ${opts.allowAnonymous ? 'true' : 'false'}`,
        'loopback_users = none',
        'log.console = true',
        'log.console.level = warning',
        'log.file = false',
      ].join('\n') + '\n',
    );
    const name = `rabbit${i}@localhost`;
    nodes.push({
      name, mqttPort, amqpPort, distPort, mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      env: {
        ...common,
        RABBITMQ_NODENAME: name,
        RABBITMQ_NODE_PORT: String(amqpPort),
        RABBITMQ_DIST_PORT: String(distPort),
        RABBITMQ_MNESIA_BASE: join(base, 'mnesia'),
        RABBITMQ_LOG_BASE: join(base, 'log'),
        RABBITMQ_CONFIG_FILE: conf,
        RABBITMQ_ADVANCED_CONFIG_FILE: join(base, 'advanced.config'),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(base, 'enabled_plugins'),
        RABBITMQ_ENABLED_PLUGINS: 'rabbitmq_mqtt',
        RABBITMQ_PID_FILE: join(base, 'rabbit.pid'),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      },
    });
  }

  const procs = new Map<string, ChildProcess>();
  const out = new Map<string, string[]>();
  const logs = (n: RabbitNode) => (out.get(n.name) ?? []).join('').slice(-4000);
  const ctl = async (n: RabbitNode, ...args: string[]) => {
    const env = nodes.find((x) => x.name === n.name)!.env;
    try {
      return (await run(join(BIN, 'rabbitmqctl'), ['-n', n.name, ...args], { env, timeout: 60_000 })).stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`rabbitmqctl -n ${n.name} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  };

  const destroy = async () => {
    await Promise.all(
      [...procs.values()].map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const done = new Promise<void>((resolve) => p.once('exit', () => resolve()));
        p.kill('SIGTERM'); // the Erlang VM stops cleanly on SIGTERM
        const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
        await done;
        clearTimeout(t);
      }),
    );
    const epmd = EPMD_CANDIDATES.find((p) => existsSync(p));
    if (epmd) await run(epmd, ['-port', String(epmdPort), '-kill'], { env: common, timeout: 5000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const timeout = opts.startTimeoutMs ?? 45_000;
    // Both nodes boot at once; a node is up when its MQTT listener (started last, by the plugin) accepts.
    await Promise.all(nodes.map((n) => startNode(n, n.env, procs, out, timeout)));
    const [first, ...rest] = nodes;
    for (const n of rest) {
      await ctl(n, 'stop_app');
      await ctl(n, 'join_cluster', first.name);
      await ctl(n, 'start_app');
      await waitListening(n.mqttPort, timeout, () => procs.get(n.name)!, () => logs(n));
    }
    if (opts.users?.length) {
      const defs = join(dir, 'definitions.json');
      writeFileSync(defs, JSON.stringify(definitions(opts.users)));
      await ctl(first, 'import_definitions', defs);
    }
    const running = async () => {
      const st = JSON.parse(await ctl(first, 'cluster_status', '--formatter', 'json')) as { running_nodes?: string[] };
      return st.running_nodes ?? [];
    };
    const versionOut = await ctl(first, 'version');
    return { nodes: nodes.map(({ env: _env, ...n }) => n), dir, version: versionOut.trim(), ctl, running, logs, destroy };
  } catch (err) {
    const detail = nodes.map((n) => `${n.name}: ${logs(n).slice(-1500)}`).join('\n');
    await destroy();
    throw new Error(`${(err as Error).message}\n${detail}`, { cause: err });
  }
}

async function startNode(n: RabbitNode, env: NodeJS.ProcessEnv, procs: Map<string, ChildProcess>, out: Map<string, string[]>, timeoutMs: number): Promise<void> {
  const p = spawn(join(BIN, 'rabbitmq-server'), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.set(n.name, p);
  alive.add(p);
  p.once('exit', () => alive.delete(p));
  const lines: string[] = [];
  out.set(n.name, lines);
  const keep = (chunk: Buffer) => {
    lines.push(chunk.toString('utf8'));
    if (lines.length > 300) lines.splice(0, lines.length - 300);
  };
  p.stdout!.on('data', keep);
  p.stderr!.on('data', keep);
  await waitListening(n.mqttPort, timeoutMs, () => p, () => lines.join('').slice(-3000));
}

async function waitListening(port: number, timeoutMs: number, proc: () => ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = proc();
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`rabbitmq node exited during start (code ${p.exitCode}, signal ${p.signalCode}): ${logs()}`);
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`rabbitmq MQTT listener on ${port} not up within ${timeoutMs} ms: ${logs()}`);
    await sleep(200);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function definitions(users: RabbitUser[]) {
  return {
    users: users.map((u) => ({ name: u.name, password_hash: rabbitPasswordHash(u.password), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] })),
    vhosts: [{ name: '/' }],
    permissions: users.map((u) => ({ user: u.name, vhost: '/', ...(u.permissions ?? { configure: '.*', write: '.*', read: '.*' }) })),
    topic_permissions: users.filter((u) => u.topic).map((u) => ({ user: u.name, vhost: '/', exchange: 'amq.topic', write: u.topic!.write, read: u.topic!.read })),
  };
}
