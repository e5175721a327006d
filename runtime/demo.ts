// `wayside demo`: a simulated smart pole talking to a platform stand-in, all in one process,
// no external server. An embedded aedes broker on loopback plays the platform's broker; a
// platform client prints what arrives and asks the agent for its health once.
// aedes speaks MQTT 3.1.1 only, so the demo's uplink runs protocolVersion 4 (see docs/protocol.md).
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { startAgent } from './agent.ts';
import { parseConfig, type DevicesCheck } from './config/index.ts';
import type { DriverRegistry } from './drivers.ts';
import type { Service } from './service.ts';
import { createLog } from './log.ts';
import type { OutRecord, Reading, Summary, WaysideEvent } from './types.ts';

export const DEMO_CONFIG = `
version: 1
gateway: { id: pole-demo, site: "Demo street 1" }
http: { host: 127.0.0.1, port: 0 }
clock: { trust: always }
uplink:
  url: mqtt://127.0.0.1:{{PORT}}
  protocolVersion: 4
  reconnect: { min: 500ms, max: 5s }
defaults: { publish: summaries, window: 5s, offlineAfter: 30s }
devices:
  - id: pole-sim
    driver: sim
    interval: 1s
rules:
  # Fires within seconds, so a first run shows an event: the simulated street is never
  # quieter than about 45 dB(A) (drivers/sim/model.ts).
  - point: pole-sim/noise_db
    above: 40
    for: 2s
    severity: info
    event: street.noisy
  - point: pole-sim/pm25
    above: 75
    hysteresis: 5
    for: 3s
    severity: warning
    event: air.pm25_high
`;

export interface DemoOptions {
  registry: DriverRegistry;
  /** The agent's services (the composition root's list). */
  services?: (config: import('./config/index.ts').WaysideConfig) => Service[];
  /** Cross-family device checks (the composition root's). */
  checks?: DevicesCheck[];
  durationMs?: number;
  /** Kept after the demo; without it a temporary folder is used and removed at the end. */
  stateDir?: string;
  print?: (line: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const stateDir = opts.stateDir ?? mkdtempSync(path.join(os.tmpdir(), 'wayside-demo-'));
  try {
    await demo(opts, stateDir);
  } finally {
    if (!opts.stateDir) rmSync(stateDir, { recursive: true, force: true });
  }
}

async function demo(opts: DemoOptions, stateDir: string): Promise<void> {
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  const text = DEMO_CONFIG.replace('{{PORT}}', String(port));
  const config = parseConfig(text, path.join(stateDir, 'demo.yaml'), opts.registry, process.env, { checks: opts.checks });
  config.gateway.stateDir = stateDir;
  config.outbox.path = path.join(stateDir, 'outbox.db');

  const platform = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'platform-demo', protocolVersion: 4 });
  platform.on('message', (topic, payload) => {
    for (const line of describe(topic, payload)) print(line);
  });
  await new Promise<void>((resolve) => platform.once('connect', () => resolve()));
  await platform.subscribeAsync('wayside/v1/#', { qos: 1 });
  print(`[platform] broker on mqtt://127.0.0.1:${port}, listening on wayside/v1/#`);

  const log = createLog({ level: process.env.WAYSIDE_LOG_LEVEL ?? 'warn', fd: 2 });
  const agent = await startAgent({ config, services: opts.services?.(config), log });
  const addr = agent.http?.address();
  const where = opts.stateDir ? `state in ${stateDir}` : `state in ${stateDir} (removed at the end; keep it with --state <dir>)`;
  print(`[agent] pole-demo running; health at http://${addr?.host}:${addr?.port}/healthz, ${where}`);

  // Once, after the first summaries: the platform pulls health over MQTT.
  const healthTimer = setTimeout(() => {
    const reply = 'platform/replies/pole-demo';
    void platform.subscribeAsync(reply, { qos: 1 }).then(() =>
      platform.publish('wayside/v1/pole-demo/cmd/health', JSON.stringify({ v: 1, responseTopic: reply, correlationId: 'demo-1' }), { qos: 1 }),
    );
  }, 6500);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (opts.durationMs) setTimeout(done, opts.durationMs);
  });
  clearTimeout(healthTimer);
  await agent.stop('demo finished');
  await new Promise((r) => setTimeout(r, 200));
  await platform.endAsync();
  await new Promise<void>((r) => broker.close(() => r()));
  server.close();
  print('[platform] done');
}

function describe(topic: string, payload: Buffer): string[] {
  let msg: { records?: OutRecord[]; online?: boolean; reason?: string; ok?: boolean; result?: { status?: string; outbox?: { depth: number }; uplink?: { connected: boolean } } };
  try {
    msg = JSON.parse(payload.toString());
  } catch {
    return [`[platform] ${topic}: ${payload.length} bytes (not JSON)`];
  }
  if (topic.endsWith('/state')) return [`[platform] ${topic}: online=${msg.online}${msg.reason ? ` reason=${msg.reason}` : ''}`];
  if (topic.includes('/cmd/')) return [`[platform] -> request ${topic.slice(topic.indexOf('/cmd/') + 5)} sent to the gateway`];
  if (topic.startsWith('platform/replies/')) {
    const r = msg.result;
    return [`[platform] health reply: ok=${msg.ok} status=${r?.status} outbox.depth=${r?.outbox?.depth} uplink.connected=${r?.uplink?.connected}`];
  }
  if (!msg.records) return [`[platform] ${topic}: ${payload.toString().slice(0, 200)}`];
  return msg.records.map((rec) => {
    if (rec.kind === 'summary') {
      const s = rec.body as Summary;
      return `[platform] summary ${s.device}/${s.point} ${((s.end - s.start) / 1000).toFixed(0)}s n=${s.count} mean=${s.mean.toFixed(1)}${s.unit ? ' ' + s.unit : ''} min=${s.min.toFixed(1)} max=${s.max.toFixed(1)}${s.partial ? ' (partial)' : ''}`;
    }
    if (rec.kind === 'event') {
      const e = rec.body as WaysideEvent;
      return `[platform] event ${e.type}${e.state ? ' ' + e.state : ''} ${e.device ?? ''}${e.point ? '/' + e.point : ''} ${JSON.stringify(e.data)}`;
    }
    const r = rec.body as Reading;
    return `[platform] reading ${r.device}/${r.point}=${r.value}${r.unit ? ' ' + r.unit : ''}`;
  });
}
