// Footprint of the agent at rest: the demo's simulated pole (6 points, one reading per
// second each, 60 s summaries) uplinked to a local mosquitto, sampled for 60 s. Baseline in
// the same run: a bare Node 24 process with one timer. Targets: rss_mb <= 85, cpu_pct < 2.
// WAYSIDE_BENCH_SECONDS shortens the sampling (default 60).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import { round, sampleFootprint } from './proc.ts';

const seconds = Number(process.env.WAYSIDE_BENCH_SECONDS ?? 60);
const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/.bin/node');

const broker = await startMosquitto();
const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-footprint-'));
const cfg = path.join(dir, 'wayside.yaml');
writeFileSync(
  cfg,
  `version: 1
gateway: { id: pole-bench, stateDir: ${dir}/state }
log: { level: warn }
http: { host: 127.0.0.1, port: 0 }
uplink: { url: "${broker.url}" }
defaults: { publish: summaries, window: 60s }
devices:
  - { id: pole-sim, driver: sim, interval: 1s }
`,
);

const agent = spawn(node, [path.join(root, 'runtime/cli.ts'), 'run', '--config', cfg], { stdio: ['ignore', 'inherit', 'inherit'] });
const bare = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
try {
  const [a, b] = await Promise.all([sampleFootprint(agent.pid!, seconds), sampleFootprint(bare.pid!, seconds)]);
  console.log(`agent:     rss ${a.rss_mb} MB (max ${a.rss_max_mb}), cpu ${a.cpu_pct}% of one core`);
  console.log(`bare node: rss ${b.rss_mb} MB, cpu ${b.cpu_pct}%`);
  console.log(JSON.stringify({
    bench: 'footprint', seconds,
    rss_mb: a.rss_mb, rss_max_mb: a.rss_max_mb, cpu_pct: a.cpu_pct,
    baseline_rss_mb: b.rss_mb, baseline_cpu_pct: b.cpu_pct, rss_ratio: round(a.rss_mb / b.rss_mb),
    target_rss_mb: 85, target_cpu_pct: 2,
  }));
} finally {
  agent.kill('SIGTERM');
  bare.kill('SIGKILL');
  await new Promise((r) => agent.once('exit', r));
  await broker.destroy();
}
