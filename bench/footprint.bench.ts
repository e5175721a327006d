// Footprint of the agent at rest: the demo's simulated pole (6 points, one reading per
// second each, 60 s summaries) uplinked to a local mosquitto, sampled for 60 s. Measured on
// the production build (dist/, plain JavaScript, as packaged); the same agent run from the
// TypeScript sources (development, Node's type stripping) and a bare Node 24 process with one
// timer run alongside for comparison. Targets: rss_mb <= 85, cpu_pct < 2.
// WAYSIDE_BENCH_SECONDS shortens the sampling (default 60). `npm run bench:footprint` builds first.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

// Its own gateway id: two agents with one id take the broker session from each other (and back
// off), which would measure a reconnect loop instead of an agent at rest.
const cfgSrc = cfg.replace('wayside.yaml', 'wayside-src.yaml');
const srcText = readFileSync(cfg, 'utf8').replace('/state', '/state-src').replace('id: pole-bench,', 'id: pole-bench-src,');
if (!srcText.includes('pole-bench-src')) throw new Error('footprint bench: could not give the second agent its own gateway id');
writeFileSync(cfgSrc, srcText);
const V8_FLAGS = ['--max-semi-space-size=2']; // as bin/wayside starts the agent
const agent = spawn(node, [...V8_FLAGS, path.join(root, 'dist/main.js'), 'run', '--config', cfg], { stdio: ['ignore', 'inherit', 'inherit'] });
const fromSource = spawn(node, [...V8_FLAGS, path.join(root, 'main.ts'), 'run', '--config', cfgSrc], { stdio: ['ignore', 'inherit', 'inherit'] });
const bare = spawn(node, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
try {
  const [a, s, b] = await Promise.all([agent, fromSource, bare].map((p) => sampleFootprint(p.pid!, seconds)));
  console.log(`agent (dist):   rss ${a.rss_mb} MB (max ${a.rss_max_mb}), cpu ${a.cpu_pct}% of one core`);
  console.log(`agent (source): rss ${s.rss_mb} MB (max ${s.rss_max_mb}), cpu ${s.cpu_pct}%`);
  console.log(`bare node:      rss ${b.rss_mb} MB, cpu ${b.cpu_pct}%`);
  console.log(JSON.stringify({
    bench: 'footprint', seconds,
    rss_mb: a.rss_mb, rss_max_mb: a.rss_max_mb, cpu_pct: a.cpu_pct,
    source_rss_mb: s.rss_mb, source_cpu_pct: s.cpu_pct,
    baseline_rss_mb: b.rss_mb, baseline_cpu_pct: b.cpu_pct, rss_ratio: round(a.rss_mb / b.rss_mb),
    target_rss_mb: 85, target_cpu_pct: 2,
  }));
} finally {
  for (const p of [agent, fromSource]) p.kill('SIGTERM');
  bare.kill('SIGKILL');
  await Promise.all([agent, fromSource].map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  await broker.destroy();
}
