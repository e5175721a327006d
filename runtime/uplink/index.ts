// The uplink: one MQTT 5 session to the platform. Connects (with its own backoff), announces the
// gateway (birth / last will), drains the outbox through the sender, and serves commands.
//
// Why a fresh mqtt.js client per connection (reconnectPeriod 0, clean start, no resubscribe):
// mqtt.js keeps unacked QoS 1 publishes in its outgoing store and resends them after a
// reconnect. We restart from the outbox ack cursor instead, so its resend would double the work
// and could interleave old batches with new ones. A new client has an empty store; the old one
// is ended with force, which fails its pending publish callbacks (ignored by generation).
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient, type IConnackPacket } from 'mqtt';
import type { Log, Outbox, StoredRecord } from '../types.ts';
import { createSender } from './sender.ts';
import { createCommands, type CommandHandler } from './commands.ts';
import { topicsFor, type BirthPayload, type OfflinePayload } from './protocol.ts';

export type { CommandHandler } from './commands.ts';

export interface UplinkOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** File paths; read at each connect so renewed certificates are picked up. */
  tls?: { ca?: string; cert?: string; key?: string; keyPassphrase?: string; rejectUnauthorized: boolean; servername?: string };
  topicPrefix: string;
  keepaliveMs: number;
  maxBatchRecords: number;
  maxPayloadBytes: number;
  inflight: number;
  reconnect: { minMs: number; maxMs: number };
  connectTimeoutMs: number;
  /**
   * 5 (default) or 4 (MQTT 3.1.1, for brokers without MQTT 5 such as the demo's aedes).
   * With 4 there are no properties: command requests carry responseTopic/correlationId in
   * their JSON body instead (docs/protocol.md).
   */
  protocolVersion?: 4 | 5;
}

export interface UplinkDeps {
  log: Log;
  outbox: Outbox;
  gatewayId: string;
  birth: () => Record<string, unknown>;
  rewrite?: (r: StoredRecord) => string;
}

export interface UplinkState {
  connected: boolean;
  /** When `connected` last changed (ms since epoch). */
  since: number;
  lastError?: string;
  /** Reconnect attempts scheduled after a failed or lost connection. */
  reconnects: number;
  inflight: number;
  /** Records published (resends after a reconnect count again). */
  sent: number;
  /** Records PUBACKed. */
  acked: number;
  lastAckTs?: number;
}

export interface Uplink {
  start(): void;
  stop(): Promise<void>;
  handle(command: string, fn: CommandHandler): void;
  kick(): void;
  state(): UplinkState;
}

/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 10_000;
const POLL_MS = 200;
const STOP_DRAIN_MS = 1_500;

export function createUplink(opts: UplinkOptions, deps: UplinkDeps): Uplink {
  const log = deps.log.child({ mod: 'uplink' });
  const gateway = deps.gatewayId;
  const topics = topicsFor(opts.topicPrefix, gateway);
  const sender = createSender(
    { gateway, maxBatchRecords: opts.maxBatchRecords, maxPayloadBytes: opts.maxPayloadBytes, up: topics.up },
    { outbox: deps.outbox, log, rewrite: deps.rewrite },
  );
  const commands = createCommands(log);
  const will: OfflinePayload = { v: 1, online: false, gateway, reason: 'lost' };

  let client: MqttClient | undefined;
  let gen = 0; // connection generation: events from an older client are ignored
  let connected = false;
  let since = Date.now();
  let connectedAt = 0;
  let lastError: string | undefined;
  let reconnects = 0;
  let attempt = 0;
  let started = false;
  let stopping = false;
  let draining = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  let receiveMax = 65_535;
  let controlInflight = 0;

  const setConnected = (v: boolean) => {
    if (connected !== v) since = Date.now();
    connected = v;
  };

  const fail = (myGen: number, err: unknown, what: string) => {
    if (myGen !== gen) return;
    lastError = describe(err);
    log.warn({ url: redactUrl(opts.url), err: lastError, connected }, what);
  };

  function connect(): void {
    reconnectTimer = undefined;
    if (stopping) return;
    const myGen = ++gen;
    let c: MqttClient;
    try {
      c = mqtt.connect(opts.url, clientOptions());
    } catch (err) {
      fail(myGen, err, 'uplink connect failed');
      scheduleReconnect();
      return;
    }
    client = c;
    log.debug({ url: redactUrl(opts.url), clientId: opts.clientId }, 'connecting');
    // mqtt.js has a CONNACK timeout; this one also covers a TCP/TLS handshake that never ends.
    connectTimer = setTimeout(() => {
      if (myGen !== gen || connected) return;
      fail(myGen, new Error(`connect timeout after ${opts.connectTimeoutMs} ms`), 'uplink connect failed');
      lost(myGen);
    }, opts.connectTimeoutMs + 1_000);
    c.on('connect', (connack) => { if (myGen === gen) onConnect(c, myGen, connack); });
    c.on('error', (err) => fail(myGen, err, connected ? 'uplink error' : 'uplink connect failed'));
    c.on('close', () => lost(myGen));
    c.on('message', (topic, payload, packet) => {
      if (myGen !== gen || !topic.startsWith(topics.cmdPrefix)) return;
      const p = packet.properties;
      void commands.dispatch(
        { name: topic.slice(topics.cmdPrefix.length), payload, responseTopic: p?.responseTopic, correlationData: p?.correlationData },
        (rt, body, correlationData) => publishControl(myGen, rt, body, { qos: 1, properties: correlationData ? { correlationData } : undefined }),
      ).catch((err) => log.error({ err }, 'command dispatch failed'));
    });
  }

  function clientOptions(): IClientOptions {
    // mqtt.js hands unknown options (passphrase) through to tls.connect.
    const o: IClientOptions & { passphrase?: string } = {
      protocolVersion: opts.protocolVersion ?? 5,
      clientId: opts.clientId,
      username: opts.username,
      password: opts.password,
      clean: true,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      connectTimeout: opts.connectTimeoutMs,
      keepalive: Math.max(0, Math.round(opts.keepaliveMs / 1000)),
      properties: (opts.protocolVersion ?? 5) === 5 ? { sessionExpiryInterval: 0 } : undefined,
      will: { topic: topics.state, payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    };
    const t = opts.tls;
    if (t) {
      if (t.ca) o.ca = readFileSync(t.ca);
      if (t.cert) o.cert = readFileSync(t.cert);
      if (t.key) o.key = readFileSync(t.key);
      if (t.keyPassphrase) o.passphrase = t.keyPassphrase;
      o.rejectUnauthorized = t.rejectUnauthorized;
      if (t.servername) o.servername = t.servername;
    }
    return o;
  }

  function onConnect(c: MqttClient, myGen: number, connack: IConnackPacket): void {
    clearTimeout(connectTimer);
    setConnected(true);
    connectedAt = Date.now();
    receiveMax = connack.properties?.receiveMaximum ?? 65_535;
    controlInflight = 0;
    const maxPacket = connack.properties?.maximumPacketSize;
    // Room for the fixed header, topic and properties inside the broker's packet limit.
    const maxPayloadBytes = maxPacket ? Math.min(opts.maxPayloadBytes, maxPacket - 512) : opts.maxPayloadBytes;
    log.info({ url: redactUrl(opts.url), receiveMax, maxPayloadBytes, depth: deps.outbox.stats().depth }, 'uplink connected');

    c.subscribe(topics.cmdFilter, { qos: 1 }, (err) => {
      if (err && myGen === gen) log.error({ err: describe(err), topic: topics.cmdFilter }, 'command subscribe failed');
    });
    publishControl(myGen, topics.state, JSON.stringify(birthPayload()), { qos: 1, retain: true });

    sender.begin({
      publish: (topic, payload, done) => c.publish(topic, payload, { qos: 1 }, (err) => done(err ?? undefined)),
      window: () => (stopping && !draining ? 0 : Math.max(0, Math.min(opts.inflight, receiveMax - controlInflight))),
      maxPayloadBytes,
      onError: (err) => {
        // Refused by the broker (e.g. not authorized): keep the records, reconnect later.
        fail(myGen, err, 'publish refused; reconnecting');
        lost(myGen);
      },
    });
    clearInterval(pollTimer);
    pollTimer = setInterval(() => sender.pump(), POLL_MS);
  }

  function birthPayload(): BirthPayload {
    let extra: Record<string, unknown> = {};
    try {
      extra = deps.birth();
    } catch (err) {
      log.error({ err }, 'birth() failed; announcing without agent details');
    }
    // The agent adds fields; it cannot override the ones the protocol defines.
    return Object.assign({ v: 1 as const, online: true as const, gateway, ts: Date.now() }, extra, { v: 1 as const, online: true as const, gateway });
  }

  /** Birth, stop state and command responses: QoS 1, counted against the broker's receive maximum. */
  function publishControl(myGen: number, topic: string, payload: string, o: IClientPublishOptions, done?: () => void): boolean {
    const c = client;
    if (myGen !== gen || !connected || !c) return false;
    controlInflight++;
    c.publish(topic, payload, o, (err) => {
      if (myGen !== gen) return;
      controlInflight--;
      if (err) log.warn({ topic, err: describe(err) }, 'control publish failed');
      done?.();
      sender.pump();
    });
    return true;
  }

  /** The connection is gone (or must go): forget it and schedule the next attempt. */
  function lost(myGen: number): void {
    if (myGen !== gen) return;
    gen++;
    clearTimeout(connectTimer);
    clearInterval(pollTimer);
    const wasConnected = connected;
    const uptime = wasConnected ? Date.now() - connectedAt : 0;
    setConnected(false);
    sender.end();
    dispose(client, true);
    client = undefined;
    if (wasConnected) log.warn({ uptimeMs: uptime, err: lastError, depth: deps.outbox.stats().depth }, 'uplink disconnected');
    if (uptime >= STABLE_MS) attempt = 0;
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (stopping || reconnectTimer) return;
    const { minMs, maxMs } = opts.reconnect;
    const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
    const delay = Math.round(minMs + Math.random() * Math.max(0, cap - minMs)); // full jitter in [min, cap]
    attempt++;
    reconnects++;
    log.debug({ delayMs: delay, attempt }, 'reconnect scheduled');
    reconnectTimer = setTimeout(connect, delay);
  }

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearTimeout(reconnectTimer);
    clearTimeout(connectTimer);
    reconnectTimer = undefined;
    const c = client;
    const myGen = gen;
    if (c && connected) {
      // Deliver what is already stored first (the partial windows the agent flushed on its
      // way down), then say goodbye; both bounded by STOP_DRAIN_MS.
      const deadline = Date.now() + STOP_DRAIN_MS;
      draining = true;
      while (myGen === gen && (sender.inflight() > 0 || deps.outbox.stats().depth > 0) && Date.now() < deadline) {
        sender.pump();
        await sleep(10);
      }
      draining = false;
      const offline: OfflinePayload = { v: 1, online: false, gateway, reason: 'stopped', ts: Date.now() };
      publishControl(myGen, topics.state, JSON.stringify(offline), { qos: 1, retain: true });
      while (myGen === gen && (sender.inflight() > 0 || controlInflight > 0) && Date.now() < deadline + 500) await sleep(10);
      const clean = myGen === gen && sender.inflight() === 0 && controlInflight === 0;
      // A clean DISCONNECT (reason 0) makes the broker discard the will, so 'stopped' stays retained.
      if (myGen === gen) await endClient(c, !clean);
    } else if (c) {
      dispose(c, true);
    }
    gen++;
    clearInterval(pollTimer);
    sender.end();
    setConnected(false);
    client = undefined;
    log.info({ depth: deps.outbox.stats().depth }, 'uplink stopped');
  }

  return {
    start() {
      if (started) return;
      started = true;
      connect();
    },
    stop,
    handle: (name, fn) => commands.handle(name, fn),
    kick() {
      if (connected && !stopping) sender.pump();
    },
    state() {
      const k = sender.counters();
      return { connected, since, lastError, reconnects, inflight: sender.inflight(), sent: k.sent, acked: k.acked, lastAckTs: k.lastAckTs };
    },
  };
}

function dispose(c: MqttClient | undefined, force: boolean): void {
  if (!c) return;
  c.removeAllListeners();
  c.on('error', () => {}); // late socket errors of a dead client must not become uncaught
  c.end(force);
}

function endClient(c: MqttClient, force: boolean): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => { c.end(true); resolve(); }, 1_000);
    c.removeAllListeners('close');
    c.on('error', () => {});
    c.end(force, { reasonCode: 0 }, () => { clearTimeout(t); resolve(); });
  });
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return code !== undefined && !err.message.includes(String(code)) ? `${err.message} (${String(code)})` : err.message;
}

/** The URL without any user:password part, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
