// Video analytics benchmark (docs/video.md). Builds its own 640×640 detector (the test model
// of test/support/models/moments-model.ts with a dead-weight convolution backbone, so a run
// costs what a small real detector costs here) and its own clips with ffmpeg.
//
// A. In process, the same decoded frames (a red "person" walking across a 640×360 street):
//    bare `session.run` on ready-made input tensors (the baseline) against the whole pipeline
//    (tensor preparation, motion gate, detector on regions, decode + NMS, tracker, zones,
//    lines, structuring) → pipeline_fps, raw_fps, overhead = 1 − pipeline/raw (target ≤ 0.10).
//    Then a static scene for 60 s of frame time at 5 fps → static_infer_per_s (target ≤ 1).
// B. A real agent process (the production build, `node dist/main.js run`, as packaged) with one camera (a 1920×1080 clip looping at
//    5 fps, scaled by ffmpeg, the model above) and one Modbus TCP device polled every 100 ms
//    against this process's own Modbus server, which stamps each request: rss_mb (target ≤ 200),
//    rss_growth_mb (last 20 s − first 20 s, target ≈ 0), modbus_jitter_p99_ms (|interval − 100 ms|),
//    latency_p50_ms / latency_p95_ms (frame read off the ffmpeg pipe → its results on the bus,
//    from the camera's health), inference count.
// C. The same agent without the camera (baseline jitter and CPU), then with the camera but no
//    model (decode + motion + tracking, inference excluded): cpu_per_camera_pct = CPU of the
//    agent and its ffmpeg child − the agent without camera, in % of one core (target ≤ 50).
// WAYSIDE_BENCH_SECONDS sets B's length (default 120); C runs 20 s each.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine } from '../models/engine.ts';
import { createPipeline } from '../models/pipeline.ts';
import { createRegistry } from '../models/registry.ts';
import { frameToTensor } from '../models/tensor.ts';
import type { CameraAnalyticsConfig, RgbFrame } from '../models/types.ts';
import { silentLog } from '../runtime/log.ts';
import { buildMomentsDetector } from '../test/support/models/moments-model.ts';
import { decodeClip, makeClip } from '../test/support/video/clips.ts';
import { cpuSeconds, round, rssMb } from './proc.ts';

const SECONDS = Number(process.env.WAYSIDE_BENCH_SECONDS ?? 120);
const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/.bin/node');
const work = mkdtempSync(path.join(os.tmpdir(), 'wayside-video-bench-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

const MODEL = 'bench-det';
const modelBytes = buildMomentsDetector({ size: 640, classes: ['person', 'car'], layout: 'yolov8', names: true, backbone: { layers: 8, channels: 32 } });
const installFields = { name: MODEL, task: 'detect' as const, input: { width: 640, height: 640 }, layout: 'yolov8' as const, classes: ['person', 'car'] };

const analytics: CameraAnalyticsConfig = {
  model: MODEL,
  thresholds: { default: 0.5 },
  motion: { threshold: 25, minArea: 0.002, fullFrameEverySeconds: 1 },
  zones: [{ name: 'crossing', polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] }],
  lines: [{ name: 'mid', from: [0.5, 0], to: [0.5, 1], directions: ['westbound', 'eastbound'] }],
  structuring: true,
  trackTimeoutSeconds: 2,
};

// ---------------------------------------------------------------------------------------------
// A. pipeline against bare session.run, in process
async function phaseA() {
  const registry = createRegistry({ dir: path.join(work, 'a-models'), builtins: false });
  await registry.install(installFields, modelBytes);
  const engine = createEngine({ threads: 1, log: silentLog(), models: (n) => registry.get(n) });
  const detector = await engine.detector(MODEL);
  const session = await engine.session(registry.get(MODEL)!);
  const walk = await makeClip({ width: 640, height: 360, fps: 10, seconds: 6, background: '0x727272', shapes: [{ w: 40, h: 80, color: 'red', x: '20+95*t', y: 200 }] }, work, 'walk');
  const frames = await decodeClip(walk);

  // Baseline: the model alone on inputs made beforehand.
  const inputs = frames.map((f) => {
    const t = new Float32Array(3 * 640 * 640);
    frameToTensor(f, { width: 640, height: 640 }, t);
    return t;
  });
  const ort = await import('onnxruntime-node');
  const feed = (t: Float32Array) => ({ [session.inputNames[0]]: new ort.Tensor('float32', t, [1, 3, 640, 640]) });
  await session.run(feed(inputs[0]));
  let t0 = performance.now();
  for (const t of inputs) await session.run(feed(t));
  const rawS = (performance.now() - t0) / 1000;

  // The pipeline on the same frames, one after the other as fast as it goes.
  const pipe = createPipeline('bench', analytics, { detector });
  const events: string[] = [];
  t0 = performance.now();
  for (const f of frames) {
    const r = await pipe.process(f);
    for (const e of r.events) events.push(e.type);
  }
  for (const e of pipe.close()) events.push(e.type);
  const pipeS = (performance.now() - t0) / 1000;
  const st = pipe.stats();

  // Static scene: 60 s of frame time at 5 fps (frame stamps advance; the run is not paced).
  const still = await makeClip({ width: 640, height: 360, fps: 5, seconds: 2, background: '0x727272', rects: [{ x: 300, y: 150, w: 40, h: 80, color: 'red' }] }, work, 'still');
  const stillFrames = await decodeClip(still);
  const quiet = createPipeline('bench-static', analytics, { detector });
  let n = 0;
  for (let i = 0; i < 300; i++) {
    const src = stillFrames[i % stillFrames.length];
    const f: RgbFrame = { ...src, seq: i, mono: 1_000_000 + i * 200, ts: 1_700_000_000_000 + i * 200 };
    await quiet.process(f);
    n++;
  }
  const staticInfer = quiet.stats().inferences / ((n * 200) / 1000);
  await engine.close();
  return {
    frames: frames.length, raw_fps: round(frames.length / rawS), pipeline_fps: round(frames.length / pipeS),
    inferences: st.inferences, events: [...new Set(events)].sort(), static_infer_per_s: round(staticInfer, 3),
  };
}

// ---------------------------------------------------------------------------------------------
// A Modbus TCP server that answers FC 3 with zeros and stamps each request's arrival.
async function modbusStamps(): Promise<{ port: number; stamps: number[]; close(): Promise<void> }> {
  const stamps: number[] = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 8 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const len = buf.readUInt16BE(4);
        const req = buf.subarray(0, 6 + len);
        buf = buf.subarray(6 + len);
        stamps.push(performance.now());
        const count = req.readUInt16BE(10);
        const res = Buffer.alloc(9 + 2 * count);
        req.copy(res, 0, 0, 4);
        res.writeUInt16BE(3 + 2 * count, 4);
        res[6] = req[6];
        res[7] = req[7];
        res[8] = 2 * count;
        sock.write(res);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, stamps, close: () => new Promise((r) => server.close(() => r())) };
}

function jitterP99(stamps: number[], from: number, periodMs: number): number {
  const xs = stamps.filter((t) => t >= from);
  const d: number[] = [];
  for (let i = 1; i < xs.length; i++) d.push(Math.abs(xs[i] - xs[i - 1] - periodMs));
  return round(pct(d, 99));
}

interface AgentRun { proc: ChildProcess; port: number; dir: string }

async function startAgentWith(name: string, camera: string | undefined, modbusPort: number): Promise<AgentRun> {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  if (camera?.includes(`model: ${MODEL}`)) await createRegistry({ dir: path.join(dir, 'state/models'), builtins: false }).install(installFields, modelBytes);
  const port = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
  writeFileSync(path.join(dir, 'wayside.yaml'), `version: 1
gateway: { id: bench-${name}, stateDir: ./state }
log: { level: warn }
http: { host: 127.0.0.1, port: ${port} }
uplink: { enabled: false }
devices:
  - id: meter
    driver: modbus
    transport: { type: tcp, host: 127.0.0.1, port: ${modbusPort} }
    unitId: 1
    interval: 100ms
    points:
      - { name: v, table: holding, address: 0, type: uint16 }
${camera ?? ''}`);
  const proc = spawn(node, ['--max-semi-space-size=2', path.join(root, 'dist/main.js'), 'run', '--config', path.join(dir, 'wayside.yaml')], { stdio: ['ignore', 'inherit', 'inherit'] });
  // Up when /healthz answers.
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      await sleep(200);
    }
  }
  return { proc, port, dir };
}

async function health(a: AgentRun): Promise<Record<string, unknown>> {
  return (await (await fetch(`http://127.0.0.1:${a.port}/healthz`)).json()) as Record<string, unknown>;
}

async function camera(a: AgentRun): Promise<Record<string, any>> {
  const h = await health(a);
  return ((h.devices as Record<string, any>[]).find((d) => d.driver === 'camera') ?? {}).camera ?? {};
}

/** CPU seconds of a process and its children (ffmpeg). */
function treeCpu(pid: number): number {
  let total = cpuSeconds(pid);
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    let kids = '';
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const k of kids.split(' ').filter(Boolean)) {
      try {
        total += treeCpu(Number(k));
      } catch {
        // ended meanwhile
      }
    }
  }
  return total;
}

async function stop(a: AgentRun): Promise<void> {
  a.proc.kill('SIGTERM');
  await new Promise((r) => (a.proc.exitCode !== null ? r(null) : a.proc.once('exit', r)));
}

async function cpuOver(a: AgentRun, seconds: number): Promise<number> {
  const c0 = treeCpu(a.proc.pid!);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return ((treeCpu(a.proc.pid!) - c0) / ((performance.now() - t0) / 1000)) * 100;
}

const cameraYaml = (clip: string, withModel: boolean) => `  - id: cam
    driver: camera
    source: file:${clip}
    loop: true
    fps: 5
${withModel ? `    model: ${MODEL}\n` : ''}    zones: [{ name: crossing, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]] }]
    lines: [{ name: mid, from: [0.5, 0], to: [0.5, 1], directions: [westbound, eastbound] }]
    structuring: true
`;

try {
  const a = await phaseA();
  console.log(`A. pipeline ${a.pipeline_fps} fps vs bare session.run ${a.raw_fps} fps on ${a.frames} frames (${a.inferences} detector runs; events ${a.events.join(', ')}); static scene: ${a.static_infer_per_s} detector runs/s`);

  // A 1920×1080 street at 25 fps, 20 s, looped by the camera (ffmpeg scales it to 640×360).
  const hd = await makeClip({ width: 1920, height: 1080, fps: 25, seconds: 20, background: '0x727272', shapes: [{ w: 120, h: 240, color: 'red', x: 'mod(60+200*t\\,1800)', y: 600 }] }, work, 'hd');

  const mb = await modbusStamps();
  // B. one camera with the model, SECONDS long.
  const b = await startAgentWith('camera', cameraYaml(hd.file, true), mb.port);
  await sleep(10_000); // warm-up: model load, first track
  const bStart = performance.now();
  const rss: number[] = [];
  let cam0 = await camera(b);
  for (let s = 0; s < SECONDS; s++) {
    await sleep(1000);
    rss.push(rssMb(b.proc.pid!));
  }
  const cam1 = await camera(b);
  const loopB = ((await health(b)).loop ?? {}) as { p99Ms?: number; maxMs?: number };
  const bJitter = jitterP99(mb.stamps, bStart, 100);
  const first = mean(rss.slice(0, 20));
  const last = mean(rss.slice(-20));
  await stop(b);
  console.log(`B. agent with one camera: rss ${round(mean(rss))} MB (first 20 s ${round(first)}, last 20 s ${round(last)}), modbus jitter p99 ${bJitter} ms, latency p50 ${cam1.latencyP50Ms} / p95 ${cam1.latencyP95Ms} ms, ${cam1.processed - (cam0.processed ?? 0)} frames analysed, ${(cam1.pipeline?.stats?.inferences ?? 0) - (cam0.pipeline?.stats?.inferences ?? 0)} inferences; event loop delay p99 ${loopB.p99Ms} ms, max ${loopB.maxMs} ms`);

  // C. baseline agent (no camera), then a camera without model.
  const base = await startAgentWith('base', undefined, mb.port);
  await sleep(3000);
  const cStart = performance.now();
  const baseCpu = await cpuOver(base, 20);
  const baseJitter = jitterP99(mb.stamps, cStart, 100);
  await stop(base);
  const motionOnly = await startAgentWith('motion', cameraYaml(hd.file, false), mb.port);
  await sleep(5000);
  const camCpu = await cpuOver(motionOnly, 20);
  await stop(motionOnly);
  await mb.close();
  console.log(`C. CPU: agent ${round(baseCpu)}% without camera, ${round(camCpu)}% with one 1080p camera at 5 fps (no model, incl. ffmpeg); modbus jitter p99 without camera ${baseJitter} ms`);

  console.log(JSON.stringify({
    bench: 'video',
    pipeline_fps: a.pipeline_fps, raw_fps: a.raw_fps, overhead: round(1 - a.pipeline_fps / a.raw_fps, 3),
    latency_p50_ms: cam1.latencyP50Ms, latency_p95_ms: cam1.latencyP95Ms,
    rss_mb: round(mean(rss)), rss_growth_mb: round(last - first),
    modbus_jitter_p99_ms: bJitter, baseline_modbus_jitter_p99_ms: baseJitter, loop_delay_p99_ms: loopB.p99Ms,
    cpu_per_camera_pct: round(camCpu - baseCpu), static_infer_per_s: a.static_infer_per_s,
    seconds: SECONDS,
    targets: { overhead: 0.1, rss_mb: 200, rss_growth_mb: 0, cpu_per_camera_pct: 50, static_infer_per_s: 1 },
  }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
