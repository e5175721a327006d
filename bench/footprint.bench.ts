// Footprint of the agent at rest: the demo's simulated pole (6 points, one reading per second
// each, 60 s summaries) uplinked to a local mosquitto, sampled for 60 s. Three agents run side by
// side (same machine, same minute, each with its own gateway id and state directory):
// - rest: the agent as packaged, no Node-RED (rss_mb, cpu_pct; target rss <= 85 MB, cpu < 2 %);
// - flows: the same with a small Node-RED flow running on the pole's readings (rss_flows_mb;
//   target <= 130 MB);
// - source: the TypeScript sources run by Node's type stripping (development), for comparison;
// and a bare Node 24 process with one timer. start_ms is the time from spawn to READY=1 on a
// notify socket, as systemd would see it.
// The agent command: WAYSIDE_AGENT_CMD (e.g. the installed launcher `/opt/wayside/bin/wayside`);
// `npm run bench:footprint` builds the x64 package (`packaging/build.ts --no-deb`) and points it at
// that bundle's launcher, as installed under /opt/wayside. Without it: Node with the V8 flags of
// packaging/node-flags (when present, else FLAGS below) on dist/main.js (`npm run build`).
// bundle_mb is the size of WAYSIDE_BUNDLE_DIR (e.g. /opt/wayside) when given.
// WAYSIDE_BENCH_SECONDS shortens the sampling.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import { startNotifySocket } from '../test/support/systemd/notify-socket.ts';
import { round, sampleFootprint } from './proc.ts';

const seconds = Number(process.env.WAYSIDE_BENCH_SECONDS ?? 60);
const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/.bin/node');
// What docs/footprint.md found worth keeping when packaging/node-flags does not say.
const FLAGS = '--max-semi-space-size=1 --optimize-for-size';
const flagsFile = path.join(root, 'packaging/node-flags');
const flags = (existsSync(flagsFile) ? readFileSync(flagsFile, 'utf8') : FLAGS).split('\n').filter((l) => !l.startsWith('#')).join(' ').split(/\s+/).filter(Boolean);
const agentCmd = process.env.WAYSIDE_AGENT_CMD?.split(/\s+/).filter(Boolean) ?? [node, ...flags, path.join(root, 'dist/main.js')];
const sourceCmd = [node, ...flags, path.join(root, 'main.ts')];

// A flow on the pole's readings: every reading through a function node, nowhere to go.
const FLOW = [
  { id: 'fp', type: 'tab', label: 'footprint' },
  { id: 'fpi', type: 'wayside in', z: 'fp', device: 'pole-sim', point: '*', x: 100, y: 100, wires: [['fpf']] },
  { id: 'fpf', type: 'function', z: 'fp', name: 'scale', func: 'msg.payload = msg.payload * 2;\nreturn msg;', outputs: 1, x: 300, y: 100, wires: [['fpd']] },
  { id: 'fpd', type: 'debug', z: 'fp', active: false, tosidebar: false, console: false, complete: 'payload', x: 500, y: 100, wires: [] },
];

const broker = await startMosquitto();
const notify = await startNotifySocket();

/** One agent's config, state directory and gateway id (two agents with one id would take the broker session from each other). */
function config(name: string, withFlows: boolean, port = 0): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `wayside-footprint-${name}-`));
  const file = path.join(dir, 'wayside.yaml');
  writeFileSync(
    file,
    `version: 1
gateway: { id: pole-bench-${name}, stateDir: ${dir}/state }
log: { level: warn }
http: { host: 127.0.0.1, port: ${port} }
uplink: { url: "${broker.url}" }
defaults: { publish: summaries, window: 60s }
devices:
  - { id: pole-sim, driver: sim, interval: 1s }
flows: { enabled: ${withFlows ? 'auto' : 'false'} }
`,
  );
  if (withFlows) {
    const flowsDir = path.join(dir, 'state/flows');
    mkdirSync(flowsDir, { recursive: true });
    writeFileSync(path.join(flowsDir, 'flows.json'), JSON.stringify(FLOW, null, 2));
  }
  return file;
}

function start(cmd: string[], cfg: string): { p: ChildProcess; t0: number } {
  const t0 = performance.now();
  const p = spawn(cmd[0], [...cmd.slice(1), 'run', '--config', cfg], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NOTIFY_SOCKET: notify.path } });
  return { p, t0 };
}

/** ms from spawn to READY=1 of that agent (its STATUS names the gateway), polled every 20 ms. */
async function readyMs(name: string, t0: number): Promise<number | undefined> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const i = notify.messages.findIndex((m) => m.includes('READY=1') && m.some((l) => l.includes(`gateway pole-bench-${name})`)));
    if (i >= 0) return Math.round(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

/** A port free now, for the flows agent's /healthz (the bench waits for Node-RED to be running). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The flows section's state once Node-RED has settled ('running', or why not), within 90 s. */
async function flowsState(port: number): Promise<string> {
  const deadline = Date.now() + 90_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const h = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { flows?: { state: string; lastError?: string } };
      last = h.flows ? h.flows.state + (h.flows.lastError ? `: ${h.flows.lastError}` : '') : 'not loaded';
      if (h.flows?.state === 'running' || h.flows?.state === 'error') return last;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

const flowsPort = await freePort();
const rest = start(agentCmd, config('rest', false));
const flowsAgent = start(agentCmd, config('flows', true, flowsPort));
const source = start(sourceCmd, config('src', false));
const bare = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
const agents = [rest.p, flowsAgent.p, source.p];
try {
  const startMs = await readyMs('rest', rest.t0);
  const flows = await flowsState(flowsPort);
  if (flows !== 'running') console.error(`footprint bench: Node-RED is not running in the flows agent (${flows}): rss_flows_mb is not what it says`);
  const [a, f, s, b] = await Promise.all([rest.p, flowsAgent.p, source.p, bare].map((p) => sampleFootprint(p.pid!, seconds, 10)));
  const bundleDir = process.env.WAYSIDE_BUNDLE_DIR;
  const bundleMb = bundleDir ? round(dirBytes(bundleDir) / 1048576, 1) : null;
  console.log(`agent:            ${agentCmd.join(' ')}`);
  console.log(`at rest:          rss ${a.rss_mb} MB (max ${a.rss_max_mb}), cpu ${a.cpu_pct}% of one core, ready in ${startMs} ms`);
  console.log(`with a flow:      rss ${f.rss_mb} MB (max ${f.rss_max_mb}), cpu ${f.cpu_pct}%, Node-RED ${flows}`);
  console.log(`from the sources: rss ${s.rss_mb} MB (max ${s.rss_max_mb}), cpu ${s.cpu_pct}%`);
  console.log(`bare node:        rss ${b.rss_mb} MB, cpu ${b.cpu_pct}%`);
  console.log(JSON.stringify({
    bench: 'footprint', seconds, agent: agentCmd.join(' '),
    rss_mb: a.rss_mb, rss_max_mb: a.rss_max_mb, cpu_pct: a.cpu_pct,
    rss_flows_mb: flows === 'running' ? f.rss_mb : null, rss_flows_max_mb: f.rss_max_mb, cpu_flows_pct: f.cpu_pct, flows_state: flows,
    start_ms: startMs ?? null, bundle_mb: bundleMb,
    source_rss_mb: s.rss_mb, source_cpu_pct: s.cpu_pct,
    baseline_rss_mb: b.rss_mb, baseline_cpu_pct: b.cpu_pct, rss_ratio: round(a.rss_mb / b.rss_mb),
    target_rss_mb: 85, target_rss_flows_mb: 130, target_cpu_pct: 2,
  }));
} finally {
  for (const p of agents) p.kill('SIGTERM');
  bare.kill('SIGKILL');
  await Promise.all(agents.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  await notify.close();
  await broker.destroy();
}
