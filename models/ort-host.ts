// ONNX Runtime sessions in worker threads. onnxruntime-node's `session.run` returns a promise but
// runs the whole inference synchronously on the calling thread (a 45 ms model stalls the event
// loop 45 ms: measured here, and onnxruntime issues #19611/#26968), which would delay the
// uplink and the field drivers' polls by a whole inference per frame. So each session lives in
// its own worker thread; the agent's thread only sends the input tensor (copied) and receives
// the outputs (transferred). Pre- and post-processing stay on the agent's thread.
//
// The worker's source is a CommonJS string run with `eval: true` (so the production build in
// dist/ needs no second file); onnxruntime-node is required by its resolved path.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Float64Array;

/** A tensor as it crosses to and from the worker (an ort.Tensor has these fields too). */
export interface TensorLike {
  type: string;
  data: TensorData;
  dims: readonly number[];
}

export interface InputInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

/** The part of an InferenceSession the models code uses. */
export interface SessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly InputInfo[];
  run(feeds: Record<string, TensorLike>): Promise<Record<string, TensorLike>>;
  /**
   * Like run, but the feeds' buffers are moved to the worker instead of copied and come back
   * with the outputs (`inputs`, same names): the caller must not touch them meanwhile.
   */
  runLending?(feeds: Record<string, TensorLike>): Promise<{ outputs: Record<string, TensorLike>; inputs: Record<string, TensorData> }>;
  release(): Promise<void>;
}

export interface SessionOptionsLike {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// Inference yields to the agent's own thread (Linux nice is per thread): the field drivers'
// polls and the uplink come first. ONNX Runtime's threads made from here inherit it.
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0) require('node:os').setPriority(tid, workerData.nice);
} catch {}
const ort = require(workerData.ort);
let session;
const copy = (t) => {
  const d = t.data;
  const data = ArrayBuffer.isView(d) ? new d.constructor(d) : d;
  return { type: t.type, data, dims: Array.from(t.dims) };
};
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'create') {
      session = await ort.InferenceSession.create(m.model, m.options);
      const meta = JSON.parse(JSON.stringify(session.inputMetadata));
      parentPort.postMessage({ id: m.id, ok: true, inputNames: [...session.inputNames], outputNames: [...session.outputNames], inputMetadata: meta });
    } else if (m.op === 'run') {
      const feeds = {};
      for (const k of Object.keys(m.feeds)) { const t = m.feeds[k]; feeds[k] = new ort.Tensor(t.type, t.data, t.dims); }
      const out = await session.run(feeds);
      const res = {};
      const transfer = [];
      for (const k of Object.keys(out)) {
        const c = copy(out[k]);
        res[k] = c;
        if (ArrayBuffer.isView(c.data)) transfer.push(c.data.buffer);
        if (typeof out[k].dispose === 'function') out[k].dispose();
      }
      let inputs;
      if (m.lend) {
        inputs = {};
        for (const k of Object.keys(m.feeds)) { inputs[k] = m.feeds[k].data; transfer.push(m.feeds[k].data.buffer); }
      }
      parentPort.postMessage({ id: m.id, ok: true, out: res, inputs }, transfer);
    } else if (m.op === 'release') {
      if (session) await session.release();
      session = undefined;
      parentPort.postMessage({ id: m.id, ok: true });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, ok: false, error: String((err && err.message) || err) });
  }
});
`;

/** Nice value of the inference threads (lower priority than the agent's own thread). */
export const INFERENCE_NICE = 10;

let ortPath: string | undefined;
const resolveOrt = (): string => (ortPath ??= createRequire(import.meta.url).resolve('onnxruntime-node'));

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  out?: Record<string, TensorLike>;
  inputs?: Record<string, TensorData>;
  inputNames?: string[];
  outputNames?: string[];
  inputMetadata?: InputInfo[];
}

/**
 * Loads a model (bytes or a file path) into a session in its own worker thread. Rejects with
 * onnxruntime's message when it cannot load it. The worker ends on release().
 */
export async function createWorkerSession(model: Uint8Array | string, options: SessionOptionsLike = {}): Promise<SessionLike> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ort: resolveOrt(), nice: INFERENCE_NICE } });
  worker.unref();
  const pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  let next = 0;
  let dead: Error | undefined;
  const fail = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };
  worker.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.error ?? 'inference worker: unknown error'));
  });
  worker.on('error', (err) => fail(new Error(`inference worker failed: ${err.message}`)));
  worker.on('exit', (code) => fail(new Error(`inference worker ended (exit code ${code})`)));

  const call = (msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> => {
    if (dead) return Promise.reject(dead);
    const id = next++;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
  };

  let created: Reply;
  try {
    // The bytes are copied to the worker (the caller keeps its buffer).
    created = await call({ op: 'create', model, options });
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  let released = false;
  return {
    inputNames: created.inputNames ?? [],
    outputNames: created.outputNames ?? [],
    inputMetadata: created.inputMetadata ?? [],
    async run(feeds) {
      const plain: Record<string, TensorLike> = {};
      for (const [k, t] of Object.entries(feeds)) plain[k] = { type: t.type, data: t.data, dims: [...t.dims] };
      const r = await call({ op: 'run', feeds: plain });
      return r.out ?? {};
    },
    async runLending(feeds) {
      const plain: Record<string, TensorLike> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [k, t] of Object.entries(feeds)) {
        plain[k] = { type: t.type, data: t.data, dims: [...t.dims] };
        transfer.push(t.data.buffer as ArrayBuffer);
      }
      const r = await call({ op: 'run', feeds: plain, lend: true }, transfer);
      return { outputs: r.out ?? {}, inputs: r.inputs ?? {} };
    },
    async release() {
      if (released) return;
      released = true;
      await call({ op: 'release' }).catch(() => undefined);
      await worker.terminate();
    },
  };
}
