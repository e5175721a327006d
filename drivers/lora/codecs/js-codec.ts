// Vendors' JavaScript codecs (TTN v3 / ChirpStack v4 `decodeUplink(input)` and
// `encodeDownlink(input)`, plus ChirpStack v3 `Decode` and TTN v2 `Decoder`), run off the main
// thread so that no codec can block the agent.
//
// One worker thread per host, shared by all codecs (refcounted: started on the first load, ended
// on the last close). Inside it each codec file has its own vm context and every call its time
// limit (js-worker.ts). Calls are pipelined: those made in one turn of the event loop go to the
// worker as one message and come back as one. A watchdog covers what escapes the vm time limit:
// when the worker makes no progress for the longest time limit in flight plus a grace period, it
// is terminated and started again, the codecs are loaded again from their source, the stuck call
// answers with an error, and every other call in flight is sent again.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Log } from '../../../runtime/types.ts';
import type { DecodedUplink, EncodedDownlink, PayloadCodec } from '../codec-types.ts';
import { JS_CODEC_WORKER } from './js-worker.ts';

export interface CodecHostOptions {
  log?: Log;
  /** Added to a call's time limit before the watchdog declares the worker stuck (default 1000 ms). */
  graceMs?: number;
  /** Largest decoded output, as JSON (default 64 KiB). */
  maxOutputBytes?: number;
  /** Heap cap of the worker (default 128 MB): a codec that allocates without end kills only the worker. */
  memoryMb?: number;
  /**
   * Run each call's microtasks inside its time limit (default true). Tests turn it off to let a
   * microtask loop escape the vm time limit and exercise the watchdog.
   */
  containMicrotasks?: boolean;
}

export interface CodecHostStats {
  /** Worker threads started (1 + restarts) since the host was made. */
  workersStarted: number;
  /** Workers ended by the watchdog or found dead. */
  restarts: number;
  calls: number;
  /** Open codecs (the refcount of the worker). */
  open: number;
  running: boolean;
}

export interface CodecHost {
  /** Loads a codec file; rejects with `file:line: message` for a syntax error or a file without decodeUplink. */
  load(file: string, timeoutMs: number): Promise<PayloadCodec>;
  stats(): CodecHostStats;
}

type Result = { ok: unknown } | { fault: string } | { loaded: { decode: string; encode: boolean } } | { error: string };

interface Item {
  id: number;
  kind: 'load' | 'call' | 'unload';
  codec: number;
  name?: string;
  file?: string;
  source?: string;
  input?: string;
  timeoutMs: number;
}

interface Pending {
  item: Item;
  /** Name of the codec and the function, for errors: "vendor.js decodeUplink". */
  what: string;
  /** Times the worker was lost while this was in it. */
  lost: number;
  resolve(r: Result): void;
}

interface Loaded {
  id: number;
  name: string;
  file: string;
  source: string;
  timeoutMs: number;
}

const WATCH_MS = 50;
/** A call in a worker that was lost this often (never the one blamed) fails instead of going again. */
const MAX_LOST = 2;

export function createCodecHost(opts: CodecHostOptions = {}): CodecHost {
  const grace = opts.graceMs ?? 1000;
  const log = opts.log;
  let worker: Worker | undefined;
  let progress: Int32Array | undefined;
  let lastProgress = 0;
  let lastProgressAt = 0;
  let watch: NodeJS.Timeout | undefined;
  let nextId = 1;
  /** Waiting to be sent: the worker gets one batch at a time, so calls pile up while it works. */
  let outbox: Pending[] = [];
  /** Sent in the batch the worker is on. */
  let sent = new Set<Pending>();
  /** A batch is with the worker (until its 'idle'): the next one waits. */
  let busy = false;
  let flushQueued = false;
  const pending = new Map<number, Pending>();
  const loaded = new Map<number, Loaded>();
  let refs = 0;
  const stats = { workersStarted: 0, restarts: 0, calls: 0 };

  function start(): void {
    const sab = new SharedArrayBuffer(8);
    progress = new Int32Array(sab);
    const w = new Worker(JS_CODEC_WORKER, {
      eval: true,
      name: 'wayside-codecs',
      workerData: { progress: sab, maxOutputBytes: opts.maxOutputBytes ?? 65_536, containMicrotasks: opts.containMicrotasks ?? true },
      resourceLimits: { maxOldGenerationSizeMb: opts.memoryMb ?? 128 },
    });
    w.unref();
    worker = w;
    sent = new Set();
    busy = false;
    stats.workersStarted++;
    lastProgress = 0;
    lastProgressAt = performance.now();
    w.on('message', (m: { op: 'batch'; items: [number, Result][] } | { op: 'idle' }) => {
      if (worker !== w) return;
      if (m.op === 'idle') {
        busy = false;
        sent.clear();
        if (refs === 0 && pending.size === 0) stop();
        else flush();
        if (!sent.size) w.unref(); // idle: an open codec alone does not keep the process up
        return;
      }
      for (const [id, r] of m.items) {
        const p = pending.get(id);
        if (!p) continue;
        pending.delete(id);
        sent.delete(p);
        p.resolve(r);
      }
    });
    w.on('error', (err) => {
      if (worker === w) restart(`the codec worker died: ${err.message}`);
    });
    w.on('exit', (code) => {
      if (worker === w) restart(`the codec worker exited with code ${code}`);
    });
    // Codecs loaded before a restart come back first, from the source read at their first load.
    for (const c of loaded.values()) enqueue({ id: nextId++, kind: 'load', codec: c.id, name: c.name, file: c.file, source: c.source, timeoutMs: c.timeoutMs }, `${c.name} (reload)`, () => {});
  }

  function stop(): void {
    const w = worker;
    worker = undefined;
    clearInterval(watch);
    watch = undefined;
    if (w) void w.terminate();
  }

  /**
   * The worker is stuck or dead. The calls of the codec it was running fail; the other calls it
   * held go again (up to MAX_LOST times), then those still waiting.
   */
  function restart(reason: string): void {
    const blamed = progress ? Atomics.load(progress, 1) : 0;
    const held = [...sent];
    stop();
    stats.restarts++;
    log?.warn({ reason, codec: held.find((p) => p.item.codec === blamed)?.what }, 'codec worker restarted');
    const again: Pending[] = [];
    for (const p of held) {
      p.lost++;
      if ((blamed !== 0 && p.item.codec === blamed) || p.lost > MAX_LOST || (p.item.kind === 'load' && loaded.has(p.item.codec))) {
        pending.delete(p.item.id);
        if (p.item.kind === 'load' && !loaded.has(p.item.codec)) p.resolve({ error: `${p.item.file}: ${reason}` });
        else p.resolve({ fault: reason });
      } else again.push(p);
    }
    const waiting = outbox;
    outbox = [];
    sent = new Set();
    if (refs === 0 && pending.size === 0) return;
    start();
    for (const p of [...again, ...waiting]) push(p);
  }

  function watchdog(): void {
    if (!worker || !progress) return;
    const now = performance.now();
    const done = Atomics.load(progress, 0);
    if (done !== lastProgress || !busy) {
      lastProgress = done;
      lastProgressAt = now;
      if (pending.size === 0) {
        clearInterval(watch);
        watch = undefined;
      }
      return;
    }
    let limit = 0;
    for (const p of sent) limit = Math.max(limit, p.item.timeoutMs * 1.5);
    if (now - lastProgressAt > limit + grace) restart(`did not return within ${Math.round(limit + grace)} ms (its time limit plus grace); the codec worker was restarted`);
  }

  function push(p: Pending): void {
    if (!worker) start();
    pending.set(p.item.id, p);
    outbox.push(p);
    if (!watch) {
      lastProgressAt = performance.now();
      watch = setInterval(watchdog, WATCH_MS);
      watch.unref();
    }
    if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(flush);
    }
  }

  const enqueue = (item: Item, what: string, resolve: (r: Result) => void) => push({ item, what, lost: 0, resolve });

  function flush(): void {
    flushQueued = false;
    if (!outbox.length || !worker || busy) return;
    busy = true;
    const batch = outbox;
    outbox = [];
    for (const p of batch) sent.add(p);
    lastProgressAt = performance.now();
    worker.ref(); // calls in flight keep the process up until they answer
    worker.postMessage({ op: 'batch', items: batch.map((p) => p.item) });
  }

  const request = (fields: Omit<Item, 'id'>, what: string) => new Promise<Result>((resolve) => enqueue({ ...fields, id: nextId++ }, what, resolve));

  async function load(file: string, timeoutMs: number): Promise<PayloadCodec> {
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch (err) {
      throw new Error(`codec file ${file}: ${(err as Error).message}`);
    }
    const name = path.basename(file);
    const id = nextId++;
    refs++;
    const r = await request({ kind: 'load', codec: id, name, file, source, timeoutMs }, name);
    if (!('loaded' in r)) {
      release();
      throw new Error(`codec ${'error' in r ? r.error : `${file}: ${(r as { fault: string }).fault}`}`);
    }
    loaded.set(id, { id, name, file, source, timeoutMs });
    const legacy = r.loaded.decode !== 'decodeUplink' ? r.loaded.decode : undefined;
    if (legacy) log?.info({ codec: file, function: legacy }, 'codec uses a legacy decoder function');
    let closed = false;

    const call = async (op: 'decode' | 'encode', input: object, fn: string): Promise<{ ok: unknown } | { fault: string }> => {
      if (closed) return { fault: `${name} ${fn}: the codec is closed` };
      stats.calls++;
      let json: string;
      try {
        json = JSON.stringify({ op, ...input });
      } catch (err) {
        return { fault: `${name} ${fn}: the input is not JSON data (${(err as Error).message})` };
      }
      const r = await request({ kind: 'call', codec: id, input: json, timeoutMs }, `${name} ${fn}`);
      if ('ok' in r) return { ok: r.ok };
      return { fault: `${name} ${fn}: ${'fault' in r ? r.fault : (r as { error: string }).error}` };
    };

    const codec: PayloadCodec = {
      async decodeUplink(input): Promise<DecodedUplink> {
        const r = await call('decode', {
          bytes: Array.from(input.bytes),
          fPort: input.fPort,
          recvTime: (input.recvTime ?? new Date()).getTime(),
          variables: input.variables ?? {},
        }, legacy ?? 'decodeUplink');
        return 'ok' in r ? (r.ok as DecodedUplink) : { data: {}, errors: [`codec ${r.fault}`] };
      },
      async close() {
        if (closed) return;
        closed = true;
        loaded.delete(id);
        await request({ kind: 'unload', codec: id, timeoutMs: 0 }, `${name} (unload)`);
        release();
      },
    };
    if (r.loaded.encode) {
      codec.encodeDownlink = async (input): Promise<EncodedDownlink> => {
        const res = await call('encode', { data: input.data, variables: input.variables ?? {} }, 'encodeDownlink');
        return 'ok' in res ? (res.ok as EncodedDownlink) : { bytes: [], errors: [`codec ${res.fault}`] };
      };
    }
    return codec;
  }

  function release(): void {
    refs--;
    if (refs === 0 && pending.size === 0) stop();
  }

  return {
    load,
    stats: () => ({ ...stats, open: refs, running: !!worker }),
  };
}
