// The service contract and the agent's start/stop wiring, with a real mosquitto: each service's
// health is its own section, its commands answer over MQTT, its birth fields are announced, a
// broken optional service degrades health without stopping the agent, and a failed start
// unwinds everything already started (outbox closed, port freed) with a one-line cause.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../runtime/agent.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { AgentStartError } from '../runtime/errors.ts';
import { silentLog } from '../runtime/log.ts';
import type { Service, ServiceCtx } from '../runtime/service.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';

let broker: Mosquitto;
let platform: Collector;
beforeAll(async () => {
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, 'wayside/v1/#');
});
afterAll(async () => {
  await platform?.close();
  await broker?.destroy();
});

const registry = createDriverRegistry([]);
function config(dir: string, extra = '', gw = 'svc-gw') {
  return parseConfig(
    `version: 1
gateway: { id: ${gw}, stateDir: ${dir} }
http: { host: 127.0.0.1, port: 0 }
clock: { trust: always }
uplink: { url: "${broker.url}", reconnect: { min: 200ms, max: 1s } }
${extra}`,
    path.join(dir, 'wayside.yaml'),
    registry,
  );
}

function counterService(log: string[]): Service & { ctx?: ServiceCtx } {
  let n = 0;
  const svc: Service & { ctx?: ServiceCtx } = {
    name: 'counter',
    async start(ctx) {
      svc.ctx = ctx;
      ctx.state.write('count.json', { n });
      log.push('counter start');
    },
    async stop() {
      log.push('counter stop');
    },
    health: () => ({ section: { n, mood: n > 1 ? 'tired' : 'fine' }, problems: n > 1 ? ['counter tired'] : [] }),
    commands: () => ({
      bump: async () => ({ n: ++n }),
    }),
    birth: () => ({ counter: { max: 10 } }),
  };
  return svc;
}

describe('services', () => {
  it('puts each service health in its own section, serves its commands, announces its birth fields', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-svc-'));
    const order: string[] = [];
    const counter = counterService(order);
    const broken: Service = { name: 'broken', start: async () => { throw new Error('no camera attached'); }, stop: async () => { order.push('broken stop'); } };
    const agent = await startAgent({ config: config(dir), services: [counter, broken], log: silentLog() });
    try {
      const birth = await platform.waitFor((m) => m.topic === 'wayside/v1/svc-gw/state' && m.payload.online === true);
      expect(birth.payload.counter).toEqual({ max: 10 });
      expect(birth.payload.capabilities).toEqual(expect.arrayContaining(['cmd:health', 'cmd:ping', 'cmd:bump']));
      expect(birth.payload.capabilities).not.toContain('cmd:write'); // no devices service here

      let h = agent.health();
      expect(h.counter).toEqual({ n: 0, mood: 'fine' });
      expect(h.broken).toBeUndefined();
      expect(h.problems).toEqual(['broken failed to start: no camera attached']);
      expect(order).toEqual(['counter start', 'broken stop']); // a failed start is stopped at once

      for (const want of [1, 2]) {
        const res = await platform.request('wayside/v1/svc-gw/cmd/bump', {});
        expect(res.payload).toMatchObject({ ok: true, result: { n: want } });
      }
      h = agent.health();
      expect(h.counter).toEqual({ n: 2, mood: 'tired' });
      expect(h.problems).toContain('counter tired');
      expect(h.status).toBe('degraded');

      // The per-service state directory, written atomically, private to the agent's user.
      const file = path.join(dir, 'counter', 'count.json');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ n: 0 });
      expect(counter.ctx!.state.read('count.json')).toEqual({ n: 0 });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    } finally {
      await agent.stop('test');
    }
    expect(order.at(-1)).toBe('counter stop');
  });

  it('refuses invalid or reserved service names before starting anything', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-svc-'));
    const mk = (name: string): Service => ({ name, start: async () => {}, stop: async () => {} });
    for (const names of [['outbox'], ['Flows'], ['a', 'a']]) {
      await expect(startAgent({ config: config(dir), services: names.map(mk), log: silentLog() })).rejects.toThrow(AgentStartError);
    }
    expect(existsSync(path.join(dir, 'outbox.db'))).toBe(false);
  });
});

describe('a failed start', () => {
  it('unwinds what started when a required service fails: outbox closed, port freed, one-line cause', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-svc-'));
    const order: string[] = [];
    const counter = counterService(order);
    const required: Service = { name: 'models', required: true, start: async () => { throw new Error('model file missing: /x/yolo.onnx'); }, stop: async () => {} };
    const err = await startAgent({ config: config(dir, '', 'unwind-gw'), services: [counter, required], log: silentLog() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentStartError);
    expect((err as Error).message).toBe('models: model file missing: /x/yolo.onnx');
    expect(order).toEqual(['counter start', 'counter stop']);
    // The outbox was closed cleanly: its WAL was checkpointed away and the file opens read-write.
    expect(existsSync(path.join(dir, 'outbox.db-wal'))).toBe(false);
    const db = new DatabaseSync(path.join(dir, 'outbox.db'));
    db.exec('BEGIN IMMEDIATE; COMMIT');
    db.close();
  });

  it('names the cause when the HTTP port is taken, and leaves nothing open', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-svc-'));
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const cfg = config(dir, '', 'port-gw');
      cfg.http.port = port;
      const order: string[] = [];
      const err = await startAgent({ config: cfg, services: [counterService(order)], log: silentLog() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentStartError);
      expect((err as Error).message).toMatch(new RegExp(`^http server on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      expect(order).toEqual([]); // services start after the HTTP server
      expect(existsSync(path.join(dir, 'outbox.db-wal'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('names a state directory that cannot be created', async () => {
    const cfg = config(mkdtempSync(path.join(os.tmpdir(), 'wayside-svc-')), '', 'state-gw');
    cfg.gateway.stateDir = '/proc/wayside-cannot-exist';
    const err = await startAgent({ config: cfg, log: silentLog() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentStartError);
    expect((err as Error).message).toMatch(/^state directory \/proc\/wayside-cannot-exist: .*(ENOENT|EACCES|EROFS)/);
  });
});
