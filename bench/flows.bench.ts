// Flows benchmark. Measured, in one run:
// - msgs_per_s: readings emitted on the agent's bus (device bench, point x) that a flow
//   `wayside in` -> `wayside out` re-emits as bench/y and a bus listener receives, over a burst
//   of N readings (emitted 500 per event-loop turn), first emit to last receive.
// - latency_p50/p99_ms: the same path paced at ~2,000 readings/s: bus emit of x to the bus
//   listener seeing y (y is also appended to the outbox, publish: raw; outbox_per_s reports
//   how fast those records became durable in the burst).
// - rss_with_mb / rss_without_mb: two `bin/wayside run` child processes on the same config
//   (sim pole, uplink off), one with a flow in its state (Node-RED loaded), one with flows off;
//   mean RSS from /proc over WAYSIDE_BENCH_SECONDS (default 10) after a 6 s warm-up.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { placeFlows, startFlowsAgent } from '../test/support/flows/testing.ts';
import { round, sampleFootprint } from './proc.ts';

const N = Number(process.env.WAYSIDE_BENCH_MSGS ?? 20_000);
const seconds = Number(process.env.WAYSIDE_BENCH_SECONDS ?? 10);
const root = path.resolve(import.meta.dirname, '..');
const FLOW = [
  { id: 'b', type: 'tab', label: 'bench' },
  { id: 'bi', type: 'wayside in', z: 'b', device: 'bench', point: 'x', x: 100, y: 100, wires: [['bo']] },
  { id: 'bo', type: 'wayside out', z: 'b', device: 'bench', point: 'y', rate: 1_000_000, x: 300, y: 100, wires: [] },
];

// ---- throughput and latency, in process
const boot = await startFlowsAgent('');
await boot.agent.stop();
placeFlows(boot.dir, FLOW);
const f = await startFlowsAgent('devices:\n  - { id: bench, driver: panel, perPoint: { y: { publish: raw } } }\n', { dir: boot.dir });
const bench = f.panels.get('bench')!;
const sent = new Map<number, number>();
const lat: number[] = [];
let received = 0;
let lastAt = 0;
f.agent.bus.on('reading', 'bench', (r) => {
  if (r.point !== 'y') return;
  const t = performance.now();
  const s = sent.get(r.value as number);
  if (s !== undefined) lat.push(t - s);
  received++;
  lastAt = t;
});
const waitUntil = async (cond: () => boolean, ms: number) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`bench: timed out (received ${received})`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const appended0 = f.agent.outbox.stats().appended;
const t0 = performance.now();
for (let i = 0; i < N; i += 500) {
  for (let k = i; k < Math.min(N, i + 500); k++) bench.emit('x', -k - 1);
  await new Promise((r) => setImmediate(r));
}
await waitUntil(() => received >= N, 60_000);
const msgsPerS = N / ((lastAt - t0) / 1000);
await waitUntil(() => f.agent.outbox.stats().appended - appended0 >= N, 60_000);
const outboxPerS = N / ((performance.now() - t0) / 1000);

received = 0;
lat.length = 0;
const paced = 4000;
for (let i = 0; i < paced; i += 10) {
  for (let k = i; k < i + 10; k++) {
    sent.set(k, performance.now());
    bench.emit('x', k);
  }
  await new Promise((r) => setTimeout(r, 5));
}
await waitUntil(() => received >= paced, 30_000);
lat.sort((a, b) => a - b);
const pct = (p: number) => round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))], 3);
const flowsHealth = f.agent.health().flows;
await f.agent.stop();

// ---- RSS with and without Node-RED, two real agent processes
const rssOf = async (withFlows: boolean) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-flows-rss-'));
  const cfg = path.join(dir, 'wayside.yaml');
  writeFileSync(cfg, `version: 1
gateway: { id: pole-rss, stateDir: ${dir}/state }
log: { level: warn }
http: { host: 127.0.0.1, port: 0 }
uplink: { enabled: false }
devices:
  - { id: pole-sim, driver: sim, interval: 1s }
flows: { enabled: ${withFlows ? 'auto' : 'false'} }
`);
  placeFlows(path.join(dir, 'state'), FLOW);
  const p = spawn(path.join(root, 'bin/wayside'), ['run', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    return await sampleFootprint(p.pid!, seconds, 6);
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
  }
};
const [withFlows, without] = await Promise.all([rssOf(true), rssOf(false)]);

console.log(`wayside in -> wayside out: ${Math.round(msgsPerS)} msgs/s (burst of ${N}), outbox append ${Math.round(outboxPerS)} records/s`);
console.log(`latency bus emit -> re-emit at ~2k msgs/s: p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
console.log(`rss with Node-RED ${withFlows.rss_mb} MB, without ${without.rss_mb} MB; flows health ${JSON.stringify(flowsHealth)}`);
console.log(JSON.stringify({
  bench: 'flows',
  msgs_per_s: Math.round(msgsPerS),
  outbox_per_s: Math.round(outboxPerS),
  latency_p50_ms: pct(50),
  latency_p99_ms: pct(99),
  rss_with_mb: withFlows.rss_mb,
  rss_without_mb: without.rss_mb,
  rss_flows_cost_mb: round(withFlows.rss_mb - without.rss_mb),
}));
