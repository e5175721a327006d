// The source of the codec worker thread, kept as plain CommonJS text so it runs the same from the
// sources and from the build (as runtime/outbox/checkpoint.ts does). The worker owns one node:vm
// context per codec file and runs every call in it under a time limit.
//
// Inside each context: only the JavaScript built-ins (no require, process, fetch, timers,
// Buffer, SharedArrayBuffer/Atomics, WebAssembly, WeakRef/FinalizationRegistry), string code
// generation off (no eval/new Function), a do-nothing console and a CommonJS-like `module` for
// codecs that export their functions. Inputs go in as a JSON string and results come out as a
// JSON string, so no object of the worker's realm (whose constructors reach `process`) is ever
// handed to codec code. The call, its microtasks (microtaskMode afterEvaluate) and the
// validation of its output all run under the one time limit.
//
// Messages in:  { op: 'batch', items: [{ id, kind: 'load', codec, name, file, source, timeoutMs }
//                                      | { id, kind: 'call', codec, input: <JSON of the request> }
//                                      | { id, kind: 'unload', codec }] }
// Messages out: { op: 'batch', items: [[id, result]] } (one per codec group, so a thread stuck in
//               one group loses no other's results), then { op: 'idle' } when the batch is done;
//               result: { ok: <output> } | { fault: <message> } | { loaded: {...} } | { error: <message> }.
// workerData.progress: [0] counts finished groups, [1] is the codec running now (0: none). The
// host's watchdog reads them to tell a slow worker from a stuck one and whom to blame.

/** Runs inside each codec's context before the codec's own code. `__FILE__` is the codec's name. */
const PRELUDE = String.raw`(function (g, FILE, MAX_BYTES) {
  'use strict';
  var parse = JSON.parse, stringify = JSON.stringify, keys = Object.keys, isArray = Array.isArray;
  var isView = ArrayBuffer.isView, isFinite_ = Number.isFinite, apply = Reflect.apply;
  var toISO = Date.prototype.toISOString, getTime = Date.prototype.getTime, DateC = Date, StringC = String;
  var now = Date.now, defineProperty = Object.defineProperty, freeze = Object.freeze, push = Array.prototype.push;
  ['SharedArrayBuffer', 'Atomics', 'WebAssembly', 'WeakRef', 'FinalizationRegistry'].forEach(function (k) { delete g[k]; });
  var noop = function () {};
  defineProperty(g, 'console', { value: freeze({ log: noop, info: noop, warn: noop, error: noop, debug: noop }), writable: false, configurable: false });
  var mod = { exports: {} };
  g.module = mod;
  g.exports = mod.exports;

  function what(v) {
    if (v === null) return 'null';
    if (isArray(v)) return 'an array';
    if (typeof v === 'number' || typeof v === 'boolean') return typeof v + ' ' + StringC(v);
    return typeof v === 'object' ? 'an object' : typeof v === 'undefined' ? 'undefined' : 'a ' + typeof v;
  }
  function errText(e) {
    try {
      if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
        var name = typeof e.name === 'string' ? e.name : 'Error';
        var stack = typeof e.stack === 'string' ? e.stack : '';
        var at = stack.indexOf(FILE + ':');
        var where = '';
        if (at >= 0) { var m = /^[^:]*:(\d+)/.exec(stack.slice(at + FILE.length)); if (m) where = ' (' + FILE + ':' + m[1] + ')'; }
        return name + ': ' + e.message + where;
      }
      return StringC(e);
    } catch (_) { return 'a value that cannot be shown'; }
  }
  function Fault(message) { this.message = message; }
  // A copy of v made of JSON data only; throws Fault naming the path of the first bad value.
  function clean(v, path, stack, budget) {
    if (--budget.n < 0) throw new Fault('output has more than 100000 values');
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') { if (!isFinite_(v)) throw new Fault(path + ' is ' + StringC(v) + ', not a finite number'); return v; }
    if (typeof v === 'undefined') return undefined;
    if (typeof v !== 'object') throw new Fault(path + ' is ' + what(v) + ', not data');
    if (v instanceof DateC) { if (!isFinite_(apply(getTime, v, []))) throw new Fault(path + ' is an invalid Date'); return apply(toISO, v, []); }
    if (stack.indexOf(v) >= 0) throw new Fault(path + ' refers back to an enclosing object (circular)');
    if (stack.length > 32) throw new Fault(path + ' is nested more than 32 levels deep');
    apply(push, stack, [v]);
    var out;
    if (isArray(v) || isView(v)) {
      out = [];
      for (var i = 0; i < v.length; i++) { var x = clean(v[i], path + '[' + i + ']', stack, budget); out[i] = x === undefined ? null : x; }
    } else {
      out = {};
      var ks = keys(v);
      for (var j = 0; j < ks.length; j++) { var y = clean(v[ks[j]], path + '.' + ks[j], stack, budget); if (y !== undefined) out[ks[j]] = y; }
    }
    stack.length--;
    return out;
  }
  function strings(v, path) {
    if (v === undefined) return undefined;
    if (!isArray(v)) throw new Fault(path + ' is ' + what(v) + ', expected a list of strings');
    var out = [];
    for (var i = 0; i < v.length; i++) out[i] = typeof v[i] === 'string' ? v[i] : errText(v[i]);
    return out;
  }
  function find(name) {
    if (typeof g[name] === 'function') return g[name];
    var e = g.module && g.module.exports;
    return e && typeof e[name] === 'function' ? e[name] : undefined;
  }
  function isPlainObject(v) { return v !== null && typeof v === 'object' && !isArray(v); }
  function call(fname, fn, args) {
    var r;
    try { r = apply(fn, undefined, args); } catch (e) { throw new Fault('threw ' + errText(e)); }
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new Fault('returned a Promise; a codec must return its result synchronously');
    return r;
  }
  function finish(out) {
    var s = stringify(out);
    if (s.length > MAX_BYTES) throw new Fault('output is ' + s.length + ' bytes of JSON, over the ' + (MAX_BYTES / 1024) + ' KiB limit');
    return s;
  }
  function decode(req) {
    var input = { bytes: req.bytes, fPort: req.fPort, recvTime: new DateC(req.recvTime), variables: req.variables || {} };
    var fn = find('decodeUplink'), r;
    if (fn) r = call('decodeUplink', fn, [input]);
    else if ((fn = find('Decode'))) r = { data: call('Decode', fn, [req.fPort, req.bytes, input.variables]) };
    else if ((fn = find('Decoder'))) r = { data: call('Decoder', fn, [req.bytes, req.fPort]) };
    else throw new Fault('defines no decodeUplink(input)');
    if (!isPlainObject(r)) throw new Fault('returned ' + what(r) + ', expected an object like { data: { ... } }');
    var errors = strings(r.errors, 'errors'), warnings = strings(r.warnings, 'warnings');
    var data = r.data === undefined && errors && errors.length ? {} : r.data;
    if (!isPlainObject(data)) throw new Fault('returned data that is ' + what(data) + ', expected an object');
    var out = { data: clean(data, 'data', [], { n: 100000 }) };
    if (warnings && warnings.length) out.warnings = warnings;
    if (errors && errors.length) out.errors = errors;
    return finish(out);
  }
  function encode(req) {
    var fn = find('encodeDownlink');
    if (!fn) throw new Fault('defines no encodeDownlink(input)');
    var r = call('encodeDownlink', fn, [{ data: req.data, variables: req.variables || {} }]);
    if (!isPlainObject(r)) throw new Fault('returned ' + what(r) + ', expected an object like { bytes: [...] }');
    var errors = strings(r.errors, 'errors'), warnings = strings(r.warnings, 'warnings');
    var out = { bytes: [] };
    if (errors && errors.length) out.errors = errors;
    else {
      if (!isArray(r.bytes) && !isView(r.bytes)) throw new Fault('returned bytes that are ' + what(r.bytes) + ', expected a list of integers 0-255');
      if (r.bytes.length > 255) throw new Fault('returned ' + r.bytes.length + ' bytes, more than a LoRaWAN frame holds');
      for (var i = 0; i < r.bytes.length; i++) {
        var b = r.bytes[i];
        if (typeof b !== 'number' || b !== (b & 255)) throw new Fault('returned bytes[' + i + '] = ' + what(b) + ', expected an integer 0-255');
        out.bytes[i] = b;
      }
      if (r.fPort !== undefined) {
        if (typeof r.fPort !== 'number' || r.fPort !== (r.fPort | 0) || r.fPort < 1 || r.fPort > 223) throw new Fault('returned fPort ' + what(r.fPort) + ', expected an integer 1-223');
        out.fPort = r.fPort;
      }
    }
    if (warnings && warnings.length) out.warnings = warnings;
    return finish(out);
  }
  function one(req) {
    try {
      if (req.op === 'probe') return stringify({ ok: { decode: find('decodeUplink') ? 'decodeUplink' : find('Decode') ? 'Decode' : find('Decoder') ? 'Decoder' : '', encode: !!find('encodeDownlink') } });
      return '{"ok":' + (req.op === 'decode' ? decode(req) : encode(req)) + '}';
    } catch (e) {
      return stringify({ fault: e instanceof Fault ? e.message : 'failed while its output was read: ' + errText(e) });
    }
  }
  // A chunk of calls: results accumulate in __waysideOut (a string the worker reads without
  // running code in this context, also after a timeout); __waysideStart is when the current
  // call began. No new call starts once stopAfter ms have passed, so the chunk's time limit
  // (1.5 x the codec's) leaves every started call at least the codec's own limit.
  function run() {
    var req = parse(g.__waysideIn), t0 = now();
    g.__waysideOut = '';
    g.__waysideDone = 0;
    for (var i = 0; i < req.items.length; i++) {
      if (i > 0 && now() - t0 >= req.stopAfter) break;
      g.__waysideStart = now();
      var r = one(req.items[i]);
      g.__waysideOut += (i ? ',' : '') + r;
      g.__waysideDone = i + 1;
    }
  }
  ['__waysideIn', '__waysideOut', '__waysideDone', '__waysideStart'].forEach(function (k) { defineProperty(g, k, { value: undefined, writable: true, configurable: false, enumerable: false }); });
  defineProperty(g, '__wayside', { value: run, writable: false, configurable: false });
})`;

export const JS_CODEC_WORKER = String.raw`'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const PRELUDE = ${JSON.stringify(PRELUDE)};
const progress = new Int32Array(workerData.progress);
const contain = workerData.containMicrotasks !== false;
const RUN = new vm.Script('__wayside()', { filename: 'wayside:codec-call' });
const CHUNK = 64;
const codecs = new Map();

function where(err, file) {
  const stack = String((err && err.stack) || '');
  const first = stack.split('\n')[0];
  const m = /:(\d+)$/.exec(first);
  if (first.startsWith(file + ':') && m) return file + ':' + m[1];
  const at = stack.indexOf(file + ':');
  if (at >= 0) { const n = /^:(\d+)/.exec(stack.slice(at + file.length)); if (n) return file + ':' + n[1]; }
  return file;
}
function timedOut(err) { return err && err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT'; }

function build(c) {
  // No sandbox object of this realm behind the context's global (its prototype chain would
  // reach this realm's Function constructor, and so process).
  const ctx = vm.createContext(vm.constants && vm.constants.DONT_CONTEXTIFY ? vm.constants.DONT_CONTEXTIFY : Object.create(null), {
    name: 'codec ' + c.name,
    codeGeneration: { strings: false, wasm: false },
    microtaskMode: contain ? 'afterEvaluate' : undefined,
  });
  vm.runInContext(PRELUDE, ctx, { filename: 'wayside:codec-prelude' })(vm.runInContext('globalThis', ctx), c.name, workerData.maxOutputBytes);
  let script;
  try {
    script = new vm.Script(c.source, { filename: c.file });
  } catch (err) {
    throw new Error(where(err, c.file) + ': ' + (err && err.name) + ': ' + (err && err.message));
  }
  try {
    script.runInContext(ctx, { timeout: c.timeoutMs });
  } catch (err) {
    if (timedOut(err)) throw new Error(c.file + ': top-level code did not finish within ' + c.timeoutMs + ' ms');
    let text;
    try { text = vm.runInContext('(function (e) { try { return String(e && e.name) + ": " + String(e && e.message) } catch (_) { return "an exception" } })', ctx)(err); } catch (_) { text = 'an exception'; }
    throw new Error(where(err, c.file) + ': ' + text);
  }
  c.ctx = ctx;
}

// Runs calls of one codec in chunks: one vm time limit per chunk (each runInContext with a
// timeout starts a watchdog thread, ~0.3 ms: too dear per call at thousands of uplinks a second).
function invoke(c, inputs) {
  const out = [];
  let rest = inputs;
  while (rest.length) {
    const chunk = rest.slice(0, CHUNK);
    c.ctx.__waysideIn = '{"stopAfter":' + c.timeoutMs / 2 + ',"items":[' + chunk.join(',') + ']}';
    let failure;
    try {
      RUN.runInContext(c.ctx, { timeout: Math.ceil(c.timeoutMs * 1.5) });
    } catch (err) {
      failure = err;
    }
    const text = c.ctx.__waysideOut, done = c.ctx.__waysideDone;
    let results;
    try { results = typeof text === 'string' && typeof done === 'number' ? JSON.parse('[' + text + ']') : undefined; } catch (_) {}
    if (!results || results.length !== done) results = [];
    out.push(...results);
    rest = rest.slice(results.length);
    if (failure) {
      // The call that was running when the limit struck fails; the context may hold the rest of a
      // loop (queued microtasks) or half-updated state: it starts afresh for the calls after it.
      if (results.length < chunk.length) {
        out.push({ fault: timedOut(failure) ? 'did not return within its ' + c.timeoutMs + ' ms time limit' : 'failed: ' + String(failure && failure.message) });
        rest = rest.slice(1);
      }
      try { build(c); } catch (_) {}
    }
  }
  return out;
}

function load(it) {
  const c = { name: it.name, file: it.file, source: it.source, timeoutMs: it.timeoutMs, ctx: undefined };
  try {
    build(c);
    const probe = invoke(c, ['{"op":"probe"}'])[0];
    if (!probe.ok) return { error: c.file + ': ' + (probe.fault || 'could not be inspected') };
    if (!probe.ok.decode) return { error: c.file + ': defines no decodeUplink(input) (nor a ChirpStack v3 Decode(fPort, bytes, variables) or TTN v2 Decoder(bytes, port))' };
    codecs.set(it.codec, c);
    return { loaded: probe.ok };
  } catch (err) {
    return { error: String(err && err.message) };
  }
}

// One batch: loads first, then the calls grouped by codec (their results posted per group, so a
// thread stuck in one group loses no other group's results), unloads last.
function handle(items) {
  const send = (out) => { if (out.length) parentPort.postMessage({ op: 'batch', items: out }); };
  const groups = new Map();
  for (const it of items) {
    if (it.kind === 'load') send([[it.id, load(it)]]);
    else if (it.kind === 'call') { const g = groups.get(it.codec); if (g) g.push(it); else groups.set(it.codec, [it]); }
  }
  for (const [codec, calls] of groups) {
    const c = codecs.get(codec);
    Atomics.store(progress, 1, codec);
    const results = c ? invoke(c, calls.map((it) => it.input)) : calls.map(() => ({ fault: 'is not loaded in the codec worker' }));
    Atomics.store(progress, 1, 0);
    Atomics.add(progress, 0, 1);
    send(calls.map((it, i) => [it.id, results[i]]));
  }
  const unloads = [];
  for (const it of items) if (it.kind === 'unload') { codecs.delete(it.codec); unloads.push([it.id, { ok: null }]); }
  send(unloads);
  Atomics.add(progress, 0, 1);
  parentPort.postMessage({ op: 'idle' });
}

parentPort.on('message', (m) => handle(m.items));
`;
