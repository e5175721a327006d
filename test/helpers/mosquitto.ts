// Test harness: a real mosquitto broker per test file, plus a platform stand-in client.
// Shared by the uplink unit tests and the crash/outage integration tests in test/.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sleep } from './wait.ts';
import mqtt, { type MqttClient, type IClientOptions, type IClientPublishOptions } from 'mqtt';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

export interface MosquittoTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require and verify a client certificate signed by caFile (mutual TLS). */
  requireClientCert?: boolean;
}

export interface MosquittoOptions {
  /** Plain listener port; a free loopback port when absent. */
  port?: number;
  /** Adds a TLS listener on `tlsPort` (also a free port unless given). */
  tls?: MosquittoTls;
  tlsPort?: number;
  /** An existing mosquitto password file; turns anonymous access off. */
  passwordFile?: string;
  /** Users to write into a password file with mosquitto_passwd; turns anonymous access off. */
  users?: Record<string, string>;
  /** Keep sessions and queued messages across stop()/restart() (written on SIGTERM). Default false. */
  persistence?: boolean;
  /** Working directory for conf, password file and persistence db (a tmp dir by default). */
  dir?: string;
  /** Extra raw lines for mosquitto.conf. */
  extraConf?: string[];
}

export interface Mosquitto {
  port: number;
  tlsPort?: number;
  /** mqtt://127.0.0.1:port */
  url: string;
  /** mqtts://127.0.0.1:tlsPort when TLS is configured. */
  tlsUrl?: string;
  dir: string;
  /** Graceful SIGTERM; resolves once the process exited (persistence is written then). */
  stop(): Promise<void>;
  /** Starts again on the same port(s) with the same configuration. */
  restart(): Promise<void>;
  /** SIGKILL, no goodbye: for crash tests. */
  kill(): void;
  /** Last lines mosquitto wrote to stderr, for failure messages. */
  logs(): string;
  /** stop() and remove the tmp dir the harness created (afterAll). */
  destroy(): Promise<void>;
}

export function mosquittoAvailable(): boolean {
  return existsSync(MOSQUITTO);
}

/** A free loopback TCP port (the OS picks it; there is a small race until the broker binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

// Brokers still running when the test process exits are killed, so a failed test leaves no orphan.
const running = new Set<ChildProcess>();
process.once('exit', () => { for (const p of running) p.kill('SIGKILL'); });

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!mosquittoAvailable()) {
    throw new Error(`mosquitto is not installed (${MOSQUITTO} missing): run \`bash scripts/ensure-system-deps.sh\``);
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'wayside-mosq-'));
  const ownDir = opts.dir === undefined;
  mkdirSync(dir, { recursive: true });
  // A port picked by freePort() can be taken before mosquitto binds it: retry with new ports.
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? await freePort();
    const tlsPort = opts.tls ? (opts.tlsPort ?? await freePort()) : undefined;
    const conf = writeConf(dir, port, tlsPort, opts);
    const proc = new BrokerProcess(conf, [port, tlsPort].filter((p): p is number => p !== undefined));
    try {
      await proc.start();
    } catch (err) {
      const portsFixed = opts.port !== undefined && (!opts.tls || opts.tlsPort !== undefined);
      if (attempt < 3 && !portsFixed && /Address already in use/i.test(proc.logs())) continue;
      throw err;
    }
    return {
      port,
      tlsPort,
      url: `mqtt://127.0.0.1:${port}`,
      tlsUrl: tlsPort ? `mqtts://127.0.0.1:${tlsPort}` : undefined,
      dir,
      stop: () => proc.stop(),
      restart: async () => {
        await proc.stop();
        await proc.start();
      },
      kill: () => proc.kill(),
      logs: () => proc.logs(),
      destroy: async () => {
        await proc.stop();
        if (ownDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

function writeConf(dir: string, port: number, tlsPort: number | undefined, opts: MosquittoOptions): string {
  const lines = [
    'per_listener_settings false',
    'persistence ' + (opts.persistence ? 'true' : 'false'),
    `persistence_location ${dir}/`,
    'autosave_interval 0',
    // Tests and benchmarks push bursts far above the defaults; nothing may be dropped by the broker.
    'max_queued_messages 10000000',
    'max_queued_bytes 0',
    'max_inflight_messages 0',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_timestamp_format %H:%M:%S',
  ];
  // mosquitto drops root privileges to user "mosquitto" by default, which cannot read our 0700 tmp dir.
  if (process.getuid?.() === 0) lines.push('user root');
  let passwordFile = opts.passwordFile;
  if (opts.users) {
    passwordFile = join(dir, 'passwd');
    writeFileSync(passwordFile, '');
    chmodSync(passwordFile, 0o600);
    for (const [user, pass] of Object.entries(opts.users)) {
      execFileSync(MOSQUITTO_PASSWD, ['-b', passwordFile, user, pass], { stdio: 'pipe' });
    }
  }
  if (passwordFile) lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  else lines.push('allow_anonymous true');
  lines.push('', `listener ${port} 127.0.0.1`);
  if (opts.tls && tlsPort) {
    lines.push(
      '', `listener ${tlsPort} 127.0.0.1`,
      `cafile ${opts.tls.caFile}`, `certfile ${opts.tls.certFile}`, `keyfile ${opts.tls.keyFile}`,
      `require_certificate ${opts.tls.requireClientCert ? 'true' : 'false'}`,
    );
  }
  lines.push(...(opts.extraConf ?? []));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');
  return conf;
}

class BrokerProcess {
  private proc?: ChildProcess;
  private stderr: string[] = [];
  private conf: string;
  private ports: number[];
  constructor(conf: string, ports: number[]) {
    this.conf = conf;
    this.ports = ports;
  }

  async start(): Promise<void> {
    const proc = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    running.add(proc);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      this.stderr.push(chunk);
      if (this.stderr.length > 200) this.stderr.splice(0, this.stderr.length - 200);
    });
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, sig) => reject(new Error(`mosquitto exited during start (code ${code}, signal ${sig}): ${this.logs()}`)));
    });
    exited.catch(() => {});
    proc.once('exit', () => running.delete(proc));
    const deadline = Date.now() + 10_000;
    for (const port of this.ports) {
      while (!(await Promise.race([canConnect(port), exited]))) {
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`mosquitto did not listen on ${port} within 10 s: ${this.logs()}`);
        }
        await sleep(25);
      }
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await done;
    clearTimeout(timer);
  }

  kill(): void {
    this.proc?.kill('SIGKILL');
  }

  logs(): string {
    return this.stderr.join('').slice(-4000);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export { sleep };

// ---------------------------------------------------------------------------------------------
// Platform stand-in: subscribes, collects messages, sends MQTT 5 requests.

export interface Collected {
  topic: string;
  /** Parsed JSON; the raw string when the payload is not JSON; undefined for an empty payload. */
  payload: any;
  retain: boolean;
  properties?: mqtt.IPublishPacket['properties'];
}

export interface CollectorOptions extends IClientOptions {
  /** Subscription QoS (default 1). */
  qos?: 0 | 1 | 2;
  /** Keep messages in `messages` (default true). Turn off for benchmarks and use onMessage. */
  keep?: boolean;
  /** Called for every message with the raw payload (before any parse). */
  onMessage?: (topic: string, payload: Buffer, packet: mqtt.IPublishPacket) => void;
}

export interface Collector {
  client: MqttClient;
  messages: Collected[];
  /** Resolves with the first message (already received or future) matching pred. */
  waitFor(pred: (m: Collected) => boolean, timeoutMs?: number): Promise<Collected>;
  /** Resolves once cond() is true, checked after each message and every 50 ms. */
  waitUntil(cond: (messages: Collected[]) => boolean, timeoutMs?: number): Promise<void>;
  /** MQTT 5 request/response: publish with responseTopic + correlationData, wait for the reply. */
  request(topic: string, body: unknown, timeoutMs?: number, opts?: { raw?: string | Buffer }): Promise<Collected>;
  close(): Promise<void>;
}

export async function subscribeCollector(url: string, topic: string | string[], opts: CollectorOptions = {}): Promise<Collector> {
  const { qos = 1, keep = true, onMessage, ...clientOpts } = opts;
  const clientId = clientOpts.clientId ?? `platform-${randomBytes(4).toString('hex')}`;
  const replyTopic = `reply/${clientId}`;
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 100, connectTimeout: 5_000, ...clientOpts, clientId });
  client.on('error', () => {}); // reconnects on its own; tests assert on what arrives
  const messages: Collected[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (t, payload, packet) => {
    onMessage?.(t, payload, packet);
    if (!keep && !t.startsWith(replyTopic)) return;
    messages.push({ topic: t, payload: parse(payload), retain: packet.retain, properties: packet.properties });
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    setTimeout(() => reject(new Error(`collector could not connect to ${url}`)), 10_000).unref();
  });
  const topics = [...(Array.isArray(topic) ? topic : [topic]), `${replyTopic}/#`];
  await client.subscribeAsync(topics, { qos });

  const waitUntil = (cond: (m: Collected[]) => boolean, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (cond(messages)) return resolve();
      const check = () => { if (cond(messages)) { cleanup(); resolve(); } };
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => { cleanup(); reject(new Error(`waitUntil timed out after ${timeoutMs} ms (${messages.length} messages)`)); }, timeoutMs);
      const cleanup = () => { clearInterval(poll); clearTimeout(timer); waiters.delete(check); };
      waiters.add(check);
    });

  const waitFor = async (pred: (m: Collected) => boolean, timeoutMs = 10_000): Promise<Collected> => {
    let found: Collected | undefined;
    await waitUntil((all) => (found = all.find(pred)) !== undefined, timeoutMs).catch((err: Error) => {
      throw new Error(`waitFor: no matching message: ${err.message}; topics seen: ${[...new Set(messages.map((m) => m.topic))].join(', ')}`);
    });
    return found!;
  };

  let seq = 0;
  const request = async (reqTopic: string, body: unknown, timeoutMs = 10_000, o: { raw?: string | Buffer } = {}): Promise<Collected> => {
    const correlationData = Buffer.from(`req-${++seq}-${randomBytes(4).toString('hex')}`);
    const responseTopic = `${replyTopic}/${seq}`;
    const pubOpts: IClientPublishOptions = { qos: 1, properties: { responseTopic, correlationData } };
    await client.publishAsync(reqTopic, o.raw ?? JSON.stringify(body), pubOpts);
    return waitFor((m) => m.topic === responseTopic && !!m.properties?.correlationData?.equals(correlationData), timeoutMs);
  };

  return {
    client,
    messages,
    waitFor,
    waitUntil,
    request,
    close: () => client.endAsync(true).then(() => undefined),
  };
}

function parse(payload: Buffer): any {
  if (payload.length === 0) return undefined;
  const s = payload.toString('utf8');
  try { return JSON.parse(s); } catch { return s; }
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy in front of the broker: cut every connection without stopping the broker
// (an unclean network loss as seen by both sides, e.g. to test the last will).

export interface TcpProxy {
  port: number;
  url: string;
  /** Destroy every proxied connection now (new ones are still accepted). */
  dropAll(): void;
  /** Refuse (accept then immediately destroy) new connections while true. */
  setBlocked(blocked: boolean): void;
  /** Hold everything the broker sends to clients (CONNACK, PUBACK, messages) while true; client->broker still flows. */
  freeze(frozen: boolean): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const pairs = new Set<{ up: Socket; down: Socket }>();
  let blocked = false;
  let frozen = false;
  const server = createServer((down) => {
    if (blocked) { down.destroy(); return; }
    const up = netConnect({ port: targetPort, host: '127.0.0.1' });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => { sockets.delete(s); down.destroy(); up.destroy(); });
    }
    const pair = { up, down };
    pairs.add(pair);
    down.on('close', () => pairs.delete(pair));
    down.pipe(up);
    if (frozen) up.pause();
    else up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dropAll: () => { for (const s of sockets) s.destroy(); },
    setBlocked: (b) => { blocked = b; },
    freeze: (f) => {
      if (f === frozen) return;
      frozen = f;
      for (const { up, down } of pairs) {
        if (f) { up.unpipe(down); up.pause(); } else up.pipe(down);
      }
    },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
