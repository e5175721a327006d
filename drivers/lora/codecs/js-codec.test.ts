// JavaScript codecs in the real codec worker (worker_threads + node:vm): a vendor-style codec
// decodes and encodes; a looping codec is stopped by its time limit while another codec's
// uplinks keep decoding; a microtask loop that escapes the vm limit is ended by the watchdog,
// which restarts the worker; throws, garbage outputs, syntax errors and sandbox escapes come
// back as clear errors, never as a rejection.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayloadCodec } from '../codec-types.ts';
import { createCodecHost, loadCodec, type CodecHost } from './index.ts';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const F = (name: string) => path.join(dir, name);
const up = (fPort: number, ...bytes: number[]) => ({ bytes: Uint8Array.from(bytes), fPort, variables: { site: 'pole-7' } });

const open: PayloadCodec[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
const load = async (host: CodecHost, file: string, timeoutMs = 100) => {
  const c = await host.load(F(file), timeoutMs);
  open.push(c);
  return c;
};

describe('vendor-style codec', () => {
  it('decodes battery, temperature and humidity, warns on low battery, and encodes a downlink', async () => {
    const host = createCodecHost();
    const c = await load(host, 'vendor-th.js');
    // 01 75 5A: battery 90 %; 03 67 10 01: 0x0110 LE = 272 -> 27.2 °C; 04 68 71: 113 / 2 = 56.5 %
    expect(await c.decodeUplink(up(2, 0x01, 0x75, 0x5a, 0x03, 0x67, 0x10, 0x01, 0x04, 0x68, 0x71))).toEqual({ data: { battery: 90, temperature: 27.2, humidity: 56.5 } });
    expect(await c.decodeUplink(up(2, 0x01, 0x75, 0x05, 0x03, 0x67, 0xd7, 0xff))).toEqual({ data: { battery: 5, temperature: -4.1 }, warnings: ['low battery'] });
    expect(await c.decodeUplink(up(5, 1, 4, 0x02, 0x58))).toEqual({ data: { firmware: '1.4', interval: 600 } });
    expect(await c.decodeUplink(up(7, 1))).toEqual({ data: {}, errors: ['unknown fPort 7'] });
    expect(await c.encodeDownlink!({ data: { interval: 600 } })).toEqual({ bytes: [0xff, 0x03, 0x02, 0x58], fPort: 10 });
    expect(await c.encodeDownlink!({ data: { interval: 5 } })).toEqual({ bytes: [], errors: ['interval must be a number of seconds 60-64800'] });
  });

  it('loads through loadCodec with the spec the LoRa driver passes, and runs a ChirpStack v3 Decode', async () => {
    const host = createCodecHost();
    const c = await loadCodec({ kind: 'js', file: F('legacy-v3.js'), timeoutMs: 100 }, undefined, host);
    open.push(c);
    expect(await c.decodeUplink(up(3, 9))).toEqual({ data: { port: 3, first: 9, site: 'pole-7' } });
    expect(c.encodeDownlink).toBeUndefined();
    expect((await loadCodec({ kind: 'cayenne' })).encodeDownlink).toBeTypeOf('function');
  });
});

describe('isolation', () => {
  it('stops a looping codec at its time limit while another codec keeps decoding', async () => {
    const host = createCodecHost();
    const loop = await load(host, 'loop.js', 100);
    const good = await load(host, 'vendor-th.js', 100);
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      calls.push(loop.decodeUplink(up(99, i)));
      for (let k = 0; k < 20; k++) calls.push(good.decodeUplink(up(2, 0x01, 0x75, k)));
    }
    const results = (await Promise.all(calls)) as { data: Record<string, unknown>; errors?: string[] }[];
    const loops = results.filter((_, i) => i % 21 === 0);
    const goods = results.filter((_, i) => i % 21 !== 0);
    for (const r of loops) expect(r).toEqual({ data: {}, errors: ['codec loop.js decodeUplink: did not return within its 100 ms time limit'] });
    expect(goods.map((r) => r.data.battery)).toEqual(Array.from({ length: 5 }, () => Array.from({ length: 20 }, (_, k) => k)).flat());
    // The looping codec's context was rebuilt: it still decodes what does not loop.
    expect(await loop.decodeUplink(up(1, 1, 2, 3))).toEqual({ data: { n: 3 } });
    expect(host.stats().restarts).toBe(0); // the vm limit sufficed; the worker never hung
  });

  it('contains a microtask loop within the time limit (microtasks run inside it)', async () => {
    const host = createCodecHost();
    const a = await load(host, 'async-loop.js', 100);
    const good = await load(host, 'vendor-th.js', 100);
    const [r, g] = await Promise.all([a.decodeUplink(up(99, 1)), good.decodeUplink(up(2, 0x01, 0x75, 50))]);
    // The call itself returned; its loop ran in the context's own queue and was cut by the limit.
    expect(r.data).toEqual({ n: 1 });
    expect(g.data).toEqual({ battery: 50 });
    expect(await a.decodeUplink(up(1, 1, 2))).toEqual({ data: { n: 2 } });
    expect(host.stats().restarts).toBe(0);
  });

  it('restarts the worker by the hard deadline when a microtask loop escapes the vm limit, and decodes on', async () => {
    // With microtasks in the worker's own queue (containMicrotasks: false) the loop runs after the
    // call returns, outside any vm limit: only the watchdog can end it.
    const host = createCodecHost({ containMicrotasks: false, graceMs: 300 });
    const a = await load(host, 'async-spin.js', 100);
    const good = await load(host, 'vendor-th.js', 100);
    expect((await a.decodeUplink(up(99, 1))).data).toEqual({ n: 1 }); // the worker now spins
    const later = await Promise.all([good.decodeUplink(up(2, 0x01, 0x75, 42)), a.decodeUplink(up(1, 7))]);
    expect(later).toEqual([{ data: { battery: 42 } }, { data: { n: 1 } }]);
    expect(host.stats()).toMatchObject({ restarts: 1, workersStarted: 2 });
  });

  it('reports a throwing codec with its message, file and line', async () => {
    const host = createCodecHost();
    const c = await load(host, 'throws.js');
    expect(await c.decodeUplink(up(1, 1))).toEqual({ data: {}, errors: ['codec throws.js decodeUplink: threw RangeError: frame too short: 1 bytes (throws.js:4)'] });
    expect(await c.decodeUplink(up(1, 1, 2))).toEqual({ data: { v: 258 } });
  });

  it.each([
    [1, 'returned number 42, expected an object like { data: { ... } }'],
    [2, 'data.t is NaN, not a finite number'],
    [3, 'data.f is a function, not data'],
    [4, 'data.a.b refers back to an enclosing object (circular)'],
    [5, /output is \d+ bytes of JSON, over the 64 KiB limit/],
    [6, 'returned data that is a string, expected an object'],
    [7, 'returned a Promise; a codec must return its result synchronously'],
    [8, 'returned undefined, expected an object like { data: { ... } }'],
    [9, 'failed while its output was read: Error: getter exploded (garbage.js:12)'],
  ])('turns garbage output (fPort %i) into an error', async (fPort, message) => {
    const host = createCodecHost();
    const c = await load(host, 'garbage.js');
    const r = await c.decodeUplink(up(fPort, 1));
    expect(r.data).toEqual({});
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toMatch(typeof message === 'string' ? `codec garbage.js decodeUplink: ${message}` : message);
  });

  it('passes dates as ISO strings and holes in lists as null', async () => {
    const c = await load(createCodecHost(), 'garbage.js');
    expect(await c.decodeUplink(up(10, 1))).toEqual({ data: { when: '1970-01-01T00:00:00.000Z', list: [1, null, 3] } });
  });

  it('gives codecs no way to process, require, fetch, timers or code generation', async () => {
    const c = await load(createCodecHost(), 'escape.js');
    const { data } = await c.decodeUplink(up(1, 1));
    expect(data).toEqual({
      process: 'blocked: ReferenceError', require: 'blocked: ReferenceError', fetch: 'blocked: ReferenceError',
      setTimeout: 'blocked: ReferenceError', sab: 'blocked: ReferenceError',
      ctorProcess: 'blocked: EvalError', inputCtorProcess: 'blocked: EvalError', globalCtorProcess: 'blocked: EvalError', evalProcess: 'blocked: EvalError',
    });
  });

  it('rejects at load a syntax error with file:line, a file without a decoder and a missing file', async () => {
    const host = createCodecHost();
    await expect(host.load(F('syntax-error.js'), 100)).rejects.toThrow(`${F('syntax-error.js')}:4: SyntaxError`);
    await expect(host.load(F('no-decoder.js'), 100)).rejects.toThrow(/no-decoder\.js: defines no decodeUplink\(input\)/);
    await expect(host.load(F('missing.js'), 100)).rejects.toThrow(/codec file .*missing\.js: ENOENT/);
    expect(host.stats()).toMatchObject({ open: 0, running: false });
  });

  it('shares one worker among codecs and ends it when the last one closes', async () => {
    const host = createCodecHost();
    const a = await host.load(F('vendor-th.js'), 100);
    const b = await host.load(F('throws.js'), 100);
    expect(host.stats()).toMatchObject({ open: 2, running: true, workersStarted: 1 });
    await a.close();
    expect(host.stats()).toMatchObject({ open: 1, running: true });
    await b.close();
    expect(host.stats()).toMatchObject({ open: 0, running: false, workersStarted: 1 });
    expect(await b.decodeUplink(up(1, 1, 2))).toEqual({ data: {}, errors: ['codec throws.js decodeUplink: the codec is closed'] });
  });
});
