// Commands against a real mosquitto: typed error codes, concurrency cap, timeout, size limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from '../../test/helpers/mosquitto.ts';
import { until } from '../../test/helpers/wait.ts';
import { silentLog } from '../log.ts';
import { CommandError, createUplink, type Uplink } from './index.ts';
import { createMemoryOutbox } from '../../test/support/uplink/memory-outbox.ts';

const log = silentLog();
const gw = 'gw-cmdlim';
const cmd = (name: string) => `wayside/${gw}/cmd/${name}`;
let broker: Mosquitto;
let up: Uplink;
let platform: Collector;
const hung: Array<() => void> = [];
let aborted = 0;

beforeAll(async () => {
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, `wayside/${gw}/state`);
  up = createUplink(
    {
      url: broker.url, clientId: gw, topicPrefix: 'wayside', keepaliveMs: 30_000, maxBatchRecords: 50,
      maxPayloadBytes: 2_048, inflight: 4, reconnect: { minMs: 50, maxMs: 500 }, connectTimeoutMs: 3_000,
      commands: { maxConcurrent: 2, timeoutMs: 300, maxRequestBytes: 1_024 },
    },
    { log, outbox: createMemoryOutbox(), gatewayId: gw, birth: () => ({}) },
  );
  up.handle('echo', async (req) => ({ echo: req }));
  up.handle('typed', async (req) => { throw new CommandError((req as { code: string }).code, 'refused on purpose'); });
  up.handle('write', async () => { throw Object.assign(new Error('point "x" is read-only'), { code: 'not_writable' }); });
  up.handle('syscall', async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }); });
  up.handle('hang', (_req, meta) => new Promise((resolve) => {
    meta.signal.addEventListener('abort', () => aborted++);
    hung.push(() => resolve('released'));
  }));
  up.start();
  await platform.waitFor((m) => m.payload?.online === true);
});
afterAll(async () => {
  for (const release of hung) release();
  await up?.stop();
  await platform?.close();
  await broker?.destroy();
});

describe('command errors', () => {
  it("a handler's typed error code reaches the platform; untyped errors are `failed`", async () => {
    expect((await platform.request(cmd('typed'), { code: 'bad_request' })).payload)
      .toEqual({ v: 1, ok: false, error: { code: 'bad_request', message: 'refused on purpose' } });
    expect((await platform.request(cmd('write'), {})).payload.error).toEqual({ code: 'not_writable', message: 'point "x" is read-only' });
    // A system error's code is not a protocol code.
    expect((await platform.request(cmd('syscall'), {})).payload.error.code).toBe('failed');
    // A malformed code is a bug in the handler: it surfaces as `failed` naming the problem.
    expect((await platform.request(cmd('typed'), { code: 'Not Snake' })).payload.error)
      .toMatchObject({ code: 'failed', message: expect.stringMatching(/lowercase snake_case/) });
  });
});

describe('command limits', () => {
  it('answers `timeout` when a handler hangs, tells it through its signal, and frees the slot', async () => {
    const t0 = Date.now();
    const res = await platform.request(cmd('hang'), {});
    expect(res.payload.error).toMatchObject({ code: 'timeout', message: expect.stringContaining('300 ms') });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(aborted).toBe(1);
    expect(up.state().commands).toMatchObject({ timeouts: 1, abandoned: 1 });
    expect((await platform.request(cmd('echo'), 1)).payload).toMatchObject({ ok: true });
    hung.shift()!();
    await until(() => up.state().commands.abandoned === 0, 2_000, 'the abandoned handler settles');
  });

  it('answers `busy` beyond maxConcurrent running handlers', async () => {
    const a = platform.request(cmd('hang'), {});
    const b = platform.request(cmd('hang'), {});
    await until(() => hung.length === 2, 2_000, 'two handlers running');
    const c = await platform.request(cmd('echo'), 'x');
    expect(c.payload.error).toMatchObject({ code: 'busy' });
    for (const release of hung.splice(0)) release();
    expect((await a).payload).toEqual({ v: 1, ok: true, result: 'released' });
    expect((await b).payload.ok).toBe(true);
    expect(up.state().commands.busy).toBe(1);
  });

  it('answers `too_large` for a request over maxRequestBytes; a packet over the advertised maximum never arrives', async () => {
    const big = await platform.request(cmd('echo'), 'x'.repeat(2_000));
    expect(big.payload.error).toMatchObject({ code: 'too_large', message: expect.stringContaining('limit is 1024') });
    // Beyond maxRequestBytes + headroom: the broker honours our CONNECT maximumPacketSize and discards it.
    const before = up.state().commands.received;
    await expect(platform.request(cmd('echo'), 'x'.repeat(100_000), 1_000)).rejects.toThrow(/no matching message/);
    expect(up.state().commands.received).toBe(before);
    expect(up.state()).toMatchObject({ connected: true, reconnects: 0, connectFailures: 0 });
  });

  it('turns a response over the connection payload limit into `too_large` (what `ping` echoing a large request needs)', async () => {
    const fits = await platform.request(cmd('echo'), 'q'.repeat(1_000));
    expect(fits.payload).toMatchObject({ ok: true, result: { echo: 'q'.repeat(1_000) } });
    up.handle('triple', async (req) => [req, req, req]);
    const over = await platform.request(cmd('triple'), 'v'.repeat(1_000));
    expect(over.payload.error).toMatchObject({ code: 'too_large', message: expect.stringMatching(/response is \d+ bytes, the connection allows 2048/) });
    expect(up.state().connected).toBe(true);
  });
});
