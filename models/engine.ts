// The inference engine: one onnxruntime session per model file, shared by every camera and
// caller; the file's sha256 checked before each load; intra-op threads from config; a warm-up
// run at load. Detectors (letterbox, run, YOLO decode, NMS) on top of the sessions, and per
// model statistics (runs, errors, latency percentiles, fps) for health and /metrics.
// A model that does not load (missing, sha256 mismatch, not ONNX, wrong shapes) is an error
// naming the model and file for whoever asked; the agent stays up.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createWorkerSession, type SessionLike, type SessionOptionsLike, type TensorLike } from './ort-host.ts';
import type { Log } from '../runtime/types.ts';
import { frameToTensor, type InputSpec } from './tensor.ts';
import type { Box, Detection, Detector, ModelInfo, ModelManifest, RgbFrame, YoloLayout } from './types.ts';
import { checkInput, classNames, decode, nms, resolveLayout } from './yolo.ts';

export interface ModelStats {
  model: string;
  loaded: boolean;
  runs: number;
  errors: number;
  /** Over the last 200 runs (preprocess + run + decode of one input). */
  latencyP50Ms?: number;
  latencyP95Ms?: number;
  /** Runs per second over the last 10 s. */
  fps: number;
  /** Why the model did not load (last attempt). */
  error?: string;
}

/** What a model file holds, as far as detection cares (checked with a real session). */
export interface ModelCheck {
  input: { width: number; height: number };
  inputDims: (number | string)[];
  outputDims: number[];
  layout?: YoloLayout;
  classes?: string[];
  /** Ultralytics `names` metadata, raw. */
  names?: string;
}

export interface Engine {
  /** The shared session of a model file (loaded, sha256-verified and warmed up once). */
  session(info: ModelInfo): Promise<SessionLike>;
  detector(name: string, opts?: { classes?: string[] }): Promise<Detector>;
  /** Loads `bytes` in a throwaway session and checks it fits `manifest.task` (installs). */
  check(manifest: Pick<ModelManifest, 'name' | 'task'> & Partial<ModelManifest>, bytes: Uint8Array): Promise<ModelCheck>;
  stats(): ModelStats[];
  close(): Promise<void>;
}

export interface EngineOptions {
  /** Intra-op threads per session. */
  threads: number;
  log: Log;
  /** Finds a model by name (the registry); detector() needs it. */
  models?: (name: string) => ModelInfo | undefined;
  /** Names for the "not installed" error. */
  names?: () => string[];
  /** Monotonic ms (default performance.now). */
  mono?: () => number;
}


interface Loaded {
  session: SessionLike;
  outputDims: number[];
  metadata: Record<string, string>;
}

const LATENCY_WINDOW = 200;
const FPS_WINDOW_MS = 10_000;

interface ModelCounters {
  runs: number;
  errors: number;
  lat: Float64Array;
  /** End times of recent runs (mono ms), ring. */
  ends: Float64Array;
  loaded: boolean;
  error?: string;
}

export function createEngine(opts: EngineOptions): Engine {
  const mono = opts.mono ?? (() => performance.now());
  const sessions = new Map<string, Promise<Loaded>>();
  const counters = new Map<string, ModelCounters>();
  let closed = false;

  const sessionOptions = (): SessionOptionsLike => ({
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });

  const countersOf = (model: string): ModelCounters => {
    let c = counters.get(model);
    if (!c) counters.set(model, (c = { runs: 0, errors: 0, lat: new Float64Array(LATENCY_WINDOW), ends: new Float64Array(LATENCY_WINDOW), loaded: false }));
    return c;
  };
  const record = (model: string, ms: number) => {
    const c = countersOf(model);
    c.lat[c.runs % LATENCY_WINDOW] = ms;
    c.ends[c.runs % LATENCY_WINDOW] = mono();
    c.runs++;
  };

  /** Creates a session from bytes, reads its metadata and runs it once on zeros. */
  async function open(label: string, bytes: Uint8Array, fallback?: { width: number; height: number }): Promise<Loaded> {
    const meta = scanOnnx(bytes);
    if ('error' in meta) throw new Error(`${label}: not a valid ONNX file (${meta.error})`);
    let session: SessionLike;
    try {
      session = await createWorkerSession(bytes, sessionOptions());
    } catch (err) {
      throw new Error(`${label}: onnxruntime cannot load it: ${firstLine(err)}`, { cause: err });
    }
    try {
      const inMeta = session.inputMetadata[0];
      const dims = inMeta && inMeta.shape ? inMeta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) : [];
      // Warm-up: dynamic dims take 1 (batch) / the manifest size / 32.
      const warm = dims.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : i === 2 ? fallback?.height ?? 32 : i === 3 ? fallback?.width ?? 32 : 1));
      const n = warm.reduce((a, b) => a * b, 1);
      let outputDims: number[] = [];
      if (warm.length && n > 0 && n < 64 * 1024 * 1024) {
        const out = await session.run({ [session.inputNames[0]]: { type: 'float32', data: new Float32Array(n), dims: warm } });
        outputDims = [...out[session.outputNames[0]].dims];
      }
      return { session, outputDims, metadata: meta.metadata };
    } catch (err) {
      await session.release().catch(() => undefined);
      throw new Error(`${label}: warm-up run failed: ${firstLine(err)}`, { cause: err });
    }
  }

  function load(info: ModelInfo): Promise<Loaded> {
    const key = `${info.path}\0${info.sha256}`;
    let p = sessions.get(key);
    if (!p) {
      const label = `model "${info.name}" (${info.path})`;
      p = (async () => {
        if (closed) throw new Error(`${label}: the engine is closed`);
        let bytes: Buffer;
        try {
          bytes = await readFile(info.path);
        } catch (err) {
          throw new Error(`${label}: cannot read the file: ${(err as NodeJS.ErrnoException).code ?? firstLine(err)}`, { cause: err });
        }
        const sha = createHash('sha256').update(bytes).digest('hex');
        if (sha !== info.sha256.toLowerCase()) {
          throw new Error(`${label}: sha256 mismatch: the manifest says ${info.sha256.slice(0, 12)}…, the file is ${sha.slice(0, 12)}… (changed or corrupted); not loaded`);
        }
        const t0 = mono();
        const loaded = await open(label, bytes, info.input);
        opts.log.info({ model: info.name, path: info.path, ms: Math.round(mono() - t0), threads: opts.threads }, 'model loaded');
        return loaded;
      })();
      sessions.set(key, p);
      p.then(
        () => Object.assign(countersOf(info.name), { loaded: true, error: undefined }),
        (err: unknown) => {
          sessions.delete(key); // a later call tries again (the file may be fixed)
          Object.assign(countersOf(info.name), { loaded: false, error: firstLine(err) });
          opts.log.error({ model: info.name, err: firstLine(err) }, 'model failed to load');
        },
      );
    }
    return p;
  }

  function lookup(name: string): ModelInfo {
    const info = opts.models?.(name);
    if (!info) {
      const known = opts.names?.() ?? [];
      throw new Error(`model "${name}" is not installed (models: ${known.length ? known.join(', ') : 'none'})`);
    }
    return info;
  }

  /** Input, layout and class names of a loaded detection model; throws naming the shapes. */
  function describe(name: string, loaded: Loaded, manifest: Partial<ModelManifest>, override?: string[]): ModelCheck {
    const inMeta = loaded.session.inputMetadata[0];
    const inputDims = inMeta && inMeta.shape ? inMeta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) : [];
    const input = checkInput(name, inputDims, manifest.input);
    const names = loaded.metadata.names;
    const known = classNames({ override, manifest: manifest.classes, metadata: names }, undefined);
    const fit = resolveLayout(name, loaded.outputDims, known?.length, manifest.layout);
    const classes = known ?? classNames({}, fit.classes)!;
    return { input, inputDims, outputDims: loaded.outputDims, layout: fit.layout, classes, ...(names !== undefined ? { names } : {}) };
  }

  return {
    async session(info) {
      return (await load(info)).session;
    },

    async detector(name, dopts = {}) {
      const info = lookup(name);
      if (info.task !== 'detect') throw new Error(`model "${name}" is an ${info.task} model (task ${info.task}), not a detector`);
      const loaded = await load(info);
      const d = describe(name, loaded, info, dopts.classes);
      const spec: InputSpec = { width: d.input.width, height: d.input.height, mean: info.input.mean, std: info.input.std };
      const layout = d.layout!;
      const classes = d.classes!;
      const inputName = loaded.session.inputNames[0];
      const outputName = loaded.session.outputNames[0];
      const size = 3 * spec.width * spec.height;
      const free: Float32Array[] = []; // input buffers not in use by a run (concurrent callers)
      const runOne = async (frame: RgbFrame, region: Box | undefined, thresholds: Record<string, number> | undefined): Promise<Detection[]> => {
        const t0 = mono();
        let buf = free.pop() ?? new Float32Array(size);
        try {
          const map = frameToTensor(frame, spec, buf, region);
          const feeds = { [inputName]: { type: 'float32', data: buf, dims: [1, 3, spec.height, spec.width] } };
          let out: Record<string, TensorLike>;
          if (loaded.session.runLending) {
            // The input buffer travels to the worker and back (no 5 MB copy per frame).
            const r = await loaded.session.runLending(feeds);
            out = r.outputs;
            const back = r.inputs[inputName];
            if (back instanceof Float32Array && back.length === size) buf = back;
            else buf = new Float32Array(size);
          } else {
            out = await loaded.session.run(feeds);
          }
          const t: TensorLike = out[outputName];
          const dims = [...t.dims];
          if (dims.join() !== loaded.outputDims.join()) resolveLayout(name, dims, classes.length, layout);
          const dets = decode(t.data as Float32Array, dims, layout, classes, thresholds, map);
          record(name, mono() - t0);
          return dets;
        } catch (err) {
          countersOf(name).errors++;
          throw new Error(`model "${name}": inference failed: ${firstLine(err)}`, { cause: err });
        } finally {
          if (free.length < 4 && buf.length === size) free.push(buf); // a buffer lost in a failed run is detached
        }
      };

      return {
        model: name,
        classes,
        async detect(frame, regions, thresholds) {
          if (!regions?.length) return nms(await runOne(frame, undefined, thresholds));
          const all: Detection[] = [];
          for (const r of regions) all.push(...(await runOne(frame, r, thresholds)));
          return nms(all);
        },
      };
    },

    async check(manifest, bytes) {
      const label = `model "${manifest.name}"`;
      const loaded = await open(label, bytes, manifest.input);
      try {
        if (manifest.task === 'detect') return describe(manifest.name, loaded, manifest, undefined);
        const inMeta = loaded.session.inputMetadata[0];
        const inputDims = inMeta && inMeta.shape ? inMeta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) : [];
        if (inputDims.length !== 4 || inputDims[1] !== 3) throw new Error(`${label}: input [${inputDims.join(',')}] is not [N,3,H,W] (an ${manifest.task} model)`);
        const h = typeof inputDims[2] === 'number' ? inputDims[2] : manifest.input?.height ?? 0;
        const w = typeof inputDims[3] === 'number' ? inputDims[3] : manifest.input?.width ?? 0;
        return { input: { width: w, height: h }, inputDims, outputDims: loaded.outputDims };
      } finally {
        await loaded.session.release().catch(() => undefined);
      }
    },

    stats() {
      const now = mono();
      return [...counters.entries()]
        .map(([model, c]): ModelStats => {
          const n = Math.min(c.runs, LATENCY_WINDOW);
          const lat = Array.from(c.lat.subarray(0, n)).sort((a, b) => a - b);
          let recent = 0;
          for (let i = 0; i < n; i++) if (now - c.ends[i] <= FPS_WINDOW_MS) recent++;
          return {
            model,
            loaded: c.loaded,
            runs: c.runs,
            errors: c.errors,
            ...(n ? { latencyP50Ms: round2(quantile(lat, 0.5)), latencyP95Ms: round2(quantile(lat, 0.95)) } : {}),
            fps: round2(recent / (FPS_WINDOW_MS / 1000)),
            ...(c.error ? { error: c.error } : {}),
          };
        })
        .sort((a, b) => a.model.localeCompare(b.model));
    },

    async close() {
      closed = true;
      const all = [...sessions.values()];
      sessions.clear();
      for (const p of all) {
        const l = await p.catch(() => undefined);
        await l?.session.release().catch(() => undefined);
      }
      for (const c of counters.values()) c.loaded = false;
    },
  };
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
const round2 = (x: number) => Math.round(x * 100) / 100;

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0].slice(0, 500);
}

// ---------------------------------------------------------------------------------------------
// A look at the ONNX protobuf without a protobuf library: the top-level fields of ModelProto,
// enough to tell "not an ONNX file" from "onnxruntime refused it" and to read metadata_props
// (onnxruntime-node does not expose custom metadata).

const F_IR_VERSION = 1;
const F_GRAPH = 7;
const F_METADATA = 14;

/** ModelProto's metadata_props, or why the bytes are not a ModelProto. */
export function scanOnnx(bytes: Uint8Array): { metadata: Record<string, string> } | { error: string } {
  const metadata: Record<string, string> = {};
  let graph = false;
  let ir = false;
  const fields = readFields(bytes, 0, bytes.length);
  if ('error' in fields) return fields;
  for (const f of fields.fields) {
    if (f.no === F_IR_VERSION && f.wire === 0) ir = true;
    if (f.no === F_GRAPH && f.wire === 2) graph = true;
    if (f.no === F_METADATA && f.wire === 2) {
      const kv = readFields(bytes, f.start, f.end);
      if ('error' in kv) return { error: `metadata_props: ${kv.error}` };
      let key = '';
      let value = '';
      for (const e of kv.fields) {
        if (e.wire !== 2) continue;
        const s = new TextDecoder().decode(bytes.subarray(e.start, e.end));
        if (e.no === 1) key = s;
        else if (e.no === 2) value = s;
      }
      if (key) metadata[key] = value;
    }
  }
  if (!ir || !graph) return { error: `no ${!ir ? 'ir_version' : 'graph'} in the model` };
  return { metadata };
}

interface Field {
  no: number;
  wire: number;
  /** Length-delimited: the payload's range. */
  start: number;
  end: number;
}

function readFields(b: Uint8Array, from: number, to: number): { fields: Field[] } | { error: string } {
  const fields: Field[] = [];
  let p = from;
  const varint = (): number | undefined => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= to) return undefined;
      const byte = b[p++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
    }
    return undefined;
  };
  while (p < to) {
    const at = p;
    const tag = varint();
    if (tag === undefined) return { error: `truncated at byte ${at}` };
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (no < 1) return { error: `bad field number at byte ${at}` };
    if (wire === 0) {
      if (varint() === undefined) return { error: `truncated at byte ${at}` };
      fields.push({ no, wire, start: at, end: p });
    } else if (wire === 1 || wire === 5) {
      p += wire === 1 ? 8 : 4;
      if (p > to) return { error: `truncated at byte ${at}` };
      fields.push({ no, wire, start: at, end: p });
    } else if (wire === 2) {
      const len = varint();
      if (len === undefined || p + len > to) return { error: `truncated: field ${no} at byte ${at} runs past the end` };
      fields.push({ no, wire, start: p, end: p + len });
      p += len;
    } else {
      return { error: `bad wire type ${wire} at byte ${at}` };
    }
  }
  return { fields };
}
