// Uplink benchmark: drain a 1,000,000-event backlog from the real outbox to a local mosquitto,
// against a baseline of plain mqtt.js QoS 1 publishes of the same batches (no outbox).
// Run: PATH=$PWD/node_modules/.bin:$PATH tsx bench/uplink.bench.ts   (last line: one JSON object)
// The platform stand-in counts records in a worker thread so it does not steal the uplink's core.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import mqtt from 'mqtt';
import { silentLog } from '../runtime/log.ts';
import { createUplink } from '../runtime/uplink/index.ts';
import { batchHead, BATCH_TAIL } from '../runtime/uplink/protocol.ts';
import { openTestOutbox, recordFactory } from '../test/support/uplink/test-records.ts';
import type { OutRecord } from '../runtime/types.ts';

const N = Number(process.env.UPLINK_BENCH_RECORDS ?? 1_000_000);
const BATCH = 500;
const MAX_PAYLOAD = 256 * 1024;
const INFLIGHT = 16;
const TIMEOUT_MS = 120_000;

interface CollectorData { url: string; counter: SharedArrayBuffer }

if (!isMainThread) {
  runCollector(workerData as CollectorData);
} else {
  await main();
}

/** Worker: subscribe to every up topic at QoS 1, count records by their `"kind":"` key (no JSON.parse). */
function runCollector({ url, counter }: CollectorData): void {
  const count = new Int32Array(counter);
  const needle = Buffer.from('"kind":"');
  const client = mqtt.connect(url, { protocolVersion: 5, clientId: 'bench-platform', reconnectPeriod: 200 });
  client.on('message', (_topic, payload) => {
    let n = 0;
    for (let i = payload.indexOf(needle); i !== -1; i = payload.indexOf(needle, i + needle.length)) n++;
    Atomics.add(count, 0, n);
  });
  client.on('connect', () => {
    client.subscribe('bench/+/up/#', { qos: 1 }, () => parentPort!.postMessage('ready'));
  });
  parentPort!.on('message', (m) => { if (m === 'stop') client.end(true, () => process.exit(0)); });
}

async function main(): Promise<void> {
  const { startMosquitto } = await import('../test/helpers/mosquitto.ts');
  const dir = mkdtempSync(join(tmpdir(), 'wayside-uplink-bench-'));
  const broker = await startMosquitto();
  const counter = new SharedArrayBuffer(4);
  const count = new Int32Array(counter);
  const worker = new Worker(new URL(import.meta.url), { workerData: { url: broker.url, counter } satisfies CollectorData });
  await new Promise<void>((resolve, reject) => { worker.once('message', () => resolve()); worker.once('error', reject); });
  const log = silentLog();
  const outbox = openTestOutbox(dir, log);
  const outboxKind = 'sqlite';

  try {
    // 1. Fill the outbox while the uplink is not connected. The baseline's JSON is made after
    // the drain: a million strings kept alive meanwhile would make the drain's loop delay GC's.
    const make = recordFactory();
    let bytes = 0;
    const t0 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < N; i += 1000) {
      const chunk: OutRecord[] = [];
      for (let j = i; j < Math.min(N, i + 1000); j++) {
        const r = make('event');
        if (j < 1000) bytes += JSON.stringify(r).length;
        chunk.push(r);
      }
      pending.push(outbox.append(chunk));
      if (pending.length >= 8) await pending.shift();
    }
    await Promise.all(pending);
    const fillS = (performance.now() - t0) / 1000;
    if (outbox.stats().depth !== N) throw new Error(`outbox holds ${outbox.stats().depth} of ${N}`);
    console.log(`filled ${outboxKind} outbox with ${N} events (~${Math.round(bytes / Math.min(N, 1000))} B each) in ${fillS.toFixed(1)} s`);

    // 2. Drain through the uplink.
    const up = createUplink(
      {
        url: broker.url, clientId: 'bench-gw', topicPrefix: 'bench', keepaliveMs: 30_000, maxBatchRecords: BATCH,
        maxPayloadBytes: MAX_PAYLOAD, inflight: INFLIGHT, reconnect: { minMs: 100, maxMs: 1_000 }, connectTimeoutMs: 5_000,
      },
      { log, outbox, gatewayId: 'gw', birth: () => ({ bench: true }) },
    );
    Atomics.store(count, 0, 0);
    // Event-loop delay of the agent's thread during the drain (issue 7: the loop never stalls).
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const t1 = performance.now();
    up.start();
    await until(() => Atomics.load(count, 0) >= N && outbox.stats().depth === 0, 'uplink drain');
    const drainS = (performance.now() - t1) / 1000;
    loop.disable();
    const loopP99 = loop.percentile(99) / 1e6;
    const loopMax = loop.max / 1e6;
    const st = up.state();
    await up.stop();
    const eps = N / drainS;
    console.log(`uplink drained ${N} in ${drainS.toFixed(2)} s: ${Math.round(eps)} events/s (batches of ${BATCH}, ${INFLIGHT} in flight, sent ${st.sent}, reconnects ${st.reconnects})`);

    // 3. Baseline: plain mqtt.js QoS 1, same batches, same window, JSON already in memory.
    const makeBase = recordFactory();
    const jsons: string[] = Array.from({ length: N }, () => JSON.stringify(makeBase('event')));
    Atomics.store(count, 0, 0);
    // The same measure during the baseline: what this machine's scheduling alone costs the loop.
    const baseLoop = monitorEventLoopDelay({ resolution: 10 });
    baseLoop.enable();
    const baseS = await baseline(broker.url, jsons, count);
    baseLoop.disable();
    const baseP99 = baseLoop.percentile(99) / 1e6;
    const baseEps = N / baseS;
    console.log(`baseline mqtt.js QoS 1: ${N} in ${baseS.toFixed(2)} s: ${Math.round(baseEps)} events/s`);
    const ratio = eps / baseEps;
    console.log(`event-loop delay during the drain: p99 ${loopP99.toFixed(1)} ms, max ${loopMax.toFixed(1)} ms (target p99 <= 20 ms); baseline's p99 ${baseP99.toFixed(1)} ms`);
    console.log(`ratio ${ratio.toFixed(2)} (target events_per_s >= 100000: ${eps >= 100_000 ? 'met' : 'NOT met'})`);
    console.log(JSON.stringify({
      bench: 'uplink', events_per_s: Math.round(eps), backlog: N, drain_s: round(drainS),
      baseline_events_per_s: Math.round(baseEps), ratio: round(ratio, 3), loop_delay_p99_ms: round(loopP99), loop_delay_max_ms: round(loopMax), baseline_loop_delay_p99_ms: round(baseP99), outbox: outboxKind,
    }));
  } finally {
    worker.postMessage('stop');
    await outbox.close();
    await broker.destroy();
    rmSync(dir, { recursive: true, force: true });
  }

  async function until(cond: () => boolean, what: string): Promise<void> {
    const end = Date.now() + TIMEOUT_MS;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`${what} timed out (received ${Atomics.load(count, 0)}, depth ${outbox.stats().depth})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

async function baseline(url: string, jsons: string[], count: Int32Array): Promise<number> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'bench-baseline', reconnectPeriod: 0 });
  const head = batchHead('gw');
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let inflight = 0;
    const pump = () => {
      while (inflight < INFLIGHT && next < jsons.length) {
        const payload = head + jsons.slice(next, next + BATCH).join(',') + BATCH_TAIL;
        next += BATCH;
        inflight++;
        client.publish('bench/base/up/event', payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          inflight--;
          if (next >= jsons.length && inflight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  while (Atomics.load(count, 0) < jsons.length) await new Promise((r) => setTimeout(r, 5));
  const s = (performance.now() - t0) / 1000;
  await client.endAsync();
  return s;
}

function round(x: number, d = 2): number {
  return Math.round(x * 10 ** d) / 10 ** d;
}
