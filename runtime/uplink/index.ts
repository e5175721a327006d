// The uplink: one MQTT 5 session to the platform. Connects (with its own backoff), announces the
// gateway (birth / last will), drains the outbox through the sender, and serves commands.
//
// Why a fresh mqtt.js client per connection (reconnectPeriod 0, clean start, no resubscribe):
// mqtt.js keeps unacked QoS 1 publishes in its outgoing store and resends them after a
// reconnect. We restart from the outbox ack cursor instead, so its resend would double the work
// and could interleave old batches with new ones. A new client has an empty store; the old one
// is ended with force, which fails its pending publish callbacks (ignored by generation).
import mqtt, { type IClientOptions, type MqttClient, type IConnackPacket } from 'mqtt';
import type { Log, Outbox, StoredRecord } from '../types.ts';
import type { AgentEventInput } from '../events.ts';
import { createLogLimiter } from '../log-limit.ts';
import { createSender } from './sender.ts';
import { createCommands, DEFAULT_COMMAND_LIMITS, type CommandHandler, type CommandLimits, type CommandStats } from './commands.ts';
import { commandName, topicsFor, type BirthPayload, type OfflinePayload } from './protocol.ts';
import { createDuplicateEpisode, createTakeoverWatch, type DuplicateState } from './takeover.ts';
import { createControlLane } from './control.ts';
import { mqttTlsOptions } from './tls-options.ts';

export type { CommandHandler } from './commands.ts';
export { CommandError } from './commands.ts';

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
  /** Concurrency cap, per-command timeout and request size cap (defaults: DEFAULT_COMMAND_LIMITS). */
  commands?: Partial<CommandLimits>;
  /** Wait this long before reconnecting after another client took our session over (default 5 min). */
  duplicateBackoffMs?: number;
  /** Refusals of one record (PUBACK reason code) before it is set aside in the dead-letter table (default 3). */
  maxRefusals?: number;
}

export interface UplinkDeps {
  log: Log;
  outbox: Outbox;
  gatewayId: string;
  birth: () => Record<string, unknown>;
  rewrite?: (r: StoredRecord) => string;
  /** Events the uplink raises (uplink.duplicate_id); the agent puts them on the bus with emitEvent. */
  onEvent?: (e: AgentEventInput) => void;
}

export interface UplinkState {
  connected: boolean;
  /** When `connected` last changed (ms since epoch). */
  since: number;
  lastError?: string;
  /** Successful connections after a lost one (the first connect does not count). */
  reconnects: number;
  /** Connection attempts that failed before the broker accepted them (refused, timeout, DNS, TLS). */
  connectFailures: number;
  /** The reason the broker gave in its last DISCONNECT (MQTT 5). */
  lastDisconnectReason?: string;
  /** Set while another client with our client id takes the session over (duplicate gateway id). */
  duplicateId?: DuplicateState;
  commands: CommandStats;
  /** Log lines held back by the rate limit (remote input cannot flood the log). */
  logsSuppressed: number;
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
  /** Serves `{prefix}/{gw}/cmd/{command}`; `own` overrides the timeout or request cap for this command. */
  handle(command: string, fn: CommandHandler, own?: { timeoutMs?: number; maxRequestBytes?: number }): void;
  kick(): void;
  state(): UplinkState;
}

/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 10_000;
const POLL_MS = 200;
const STOP_DRAIN_MS = 1_500;
const DUPLICATE_BACKOFF_MS = 5 * 60_000;
/** Room for topic, response topic, correlation data and properties in an inbound request packet. */
const PACKET_HEADROOM = 16 * 1024;

export function createUplink(opts: UplinkOptions, deps: UplinkDeps): Uplink {
  const log = deps.log.child({ mod: 'uplink' });
  const gateway = deps.gatewayId;
  const topics = topicsFor(opts.topicPrefix, gateway);
  const sender = createSender(
    { gateway, maxBatchRecords: opts.maxBatchRecords, maxPayloadBytes: opts.maxPayloadBytes, up: topics.up, maxRefusals: opts.maxRefusals },
    { outbox: deps.outbox, log, rewrite: deps.rewrite },
  );
  const limiter = createLogLimiter({ max: 5, intervalMs: 60_000 });
  const limits: CommandLimits = { ...DEFAULT_COMMAND_LIMITS, ...opts.commands };
  const commands = createCommands(log, limits, limiter);
  const protocolVersion = opts.protocolVersion ?? 5;
  const takeovers = createTakeoverWatch(STABLE_MS);
  const duplicateBackoffMs = opts.duplicateBackoffMs ?? DUPLICATE_BACKOFF_MS;
  const control = createControlLane(log, limiter);
  const duplicate = createDuplicateEpisode({
    clientId: opts.clientId, backoffMs: duplicateBackoffMs, stableMs: STABLE_MS, log, limiter, raise: (e) => raise(e),
  });
  const will: OfflinePayload = { v: 1, online: false, gateway, reason: 'lost' };

  let client: MqttClient | undefined;
  let gen = 0; // connection generation: events from an older client are ignored
  let connected = false;
  let since = Date.now();
  let connectedAt = 0;
  let lastError: string | undefined;
  let reconnects = 0;
  let connectFailures = 0;
  let everConnected = false;
  let quiet = true; // this connection saw no socket error and no DISCONNECT
  let lastDisconnectReason: string | undefined;
  let linkMaxPayload = opts.maxPayloadBytes;
  let attempt = 0;
  let started = false;
  let stopping = false;
  let draining = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let connectTimer: NodeJS.Timeout | undefined;

  const setConnected = (v: boolean) => {
    if (connected !== v) since = Date.now();
    connected = v;
  };

  const fail = (myGen: number, err: unknown, what: string) => {
    if (myGen !== gen) return;
    quiet = false;
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
      connectFailures++;
      scheduleReconnect();
      return;
    }
    client = c;
    quiet = true;
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
    c.on('disconnect', (packet) => {
      if (myGen !== gen) return;
      quiet = false;
      const words = packet.properties?.reasonString;
      lastDisconnectReason = `${words ?? 'no reason given'} (reason code 0x${(packet.reasonCode ?? 0).toString(16).padStart(2, '0')})`;
      const takeover = takeovers.disconnect(packet.reasonCode, words);
      if (takeover) {
        lastError = `session taken over: ${takeover}`;
        duplicate.takenOver(takeover, packet.reasonCode);
        lost(myGen, duplicateBackoffMs);
      }
    });
    c.on('message', (topic, payload, packet) => {
      if (myGen !== gen || !topic.startsWith(topics.cmdPrefix)) return;
      const p = packet.properties;
      void commands.dispatch(
        { name: commandName(topic.slice(topics.cmdPrefix.length)), payload, responseTopic: p?.responseTopic, correlationData: p?.correlationData },
        (rt, body, correlationData) => myGen === gen && control.publish(rt, body, { qos: 1, properties: correlationData ? { correlationData } : undefined }, { response: true }),
        linkMaxPayload,
      ).catch((err) => log.error({ err }, 'command dispatch failed'));
    });
  }

  function raise(e: AgentEventInput): void {
    try {
      deps.onEvent?.(e);
    } catch (err) {
      log.error({ err, type: e.type }, 'uplink event listener failed');
    }
  }

  function clientOptions(): IClientOptions {
    // mqtt.js hands unknown options (passphrase) through to tls.connect.
    const o: IClientOptions & { passphrase?: string } = {
      protocolVersion,
      clientId: opts.clientId,
      username: opts.username,
      password: opts.password,
      clean: true,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet otherwise builds a cache of 65,536 two-byte Buffers for packet ids on the
      // first write: ~7 MB of heap held for the life of the process (docs/footprint.md).
      writeCache: false,
      connectTimeout: opts.connectTimeoutMs,
      keepalive: Math.max(0, Math.round(opts.keepaliveMs / 1000)),
      // The broker must not send us packets beyond what a command request may carry.
      properties: protocolVersion === 5 ? { sessionExpiryInterval: 0, maximumPacketSize: limits.maxRequestBytes + PACKET_HEADROOM } : undefined,
      will: { topic: topics.state, payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    };
    Object.assign(o, mqttTlsOptions(opts.tls));
    return o;
  }

  function onConnect(c: MqttClient, myGen: number, connack: IConnackPacket): void {
    clearTimeout(connectTimer);
    setConnected(true);
    connectedAt = Date.now();
    if (everConnected) reconnects++;
    everConnected = true;
    const receiveMax = connack.properties?.receiveMaximum ?? 65_535;
    control.begin(c, receiveMax, () => sender.inflight(), () => sender.pump());
    duplicate.connected();
    const maxPacket = connack.properties?.maximumPacketSize;
    // Room for the fixed header, topic and properties inside the broker's packet limit.
    const maxPayloadBytes = maxPacket ? Math.min(opts.maxPayloadBytes, maxPacket - 512) : opts.maxPayloadBytes;
    linkMaxPayload = maxPayloadBytes;
    log.info({ url: redactUrl(opts.url), receiveMax, maxPayloadBytes, depth: deps.outbox.stats().depth }, 'uplink connected');

    c.subscribe(topics.cmdFilter, { qos: 1 }, (err) => {
      if (err && myGen === gen) log.error({ err: describe(err), topic: topics.cmdFilter }, 'command subscribe failed');
    });
    control.publish(topics.state, JSON.stringify(birthPayload()), { qos: 1, retain: true });

    sender.begin({
      publish: (topic, payload, done) => c.publish(topic, payload, { qos: 1 }, (err) => {
        done(err ?? undefined);
        control.drain(); // a PUBACK freed room: queued control messages go first
      }),
      // Queued control messages get their room first (the sender refills after them).
      window: () => (stopping && !draining ? 0 : Math.max(0, Math.min(opts.inflight, receiveMax - control.reserved()))),
      maxPayloadBytes,
      onError: (err) => {
        // The publish failed on the connection (a refusal by PUBACK reason code is the sender's
        // to handle): keep the records, reconnect later.
        fail(myGen, err, 'publish failed; reconnecting');
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

  /** The connection is gone (or must go): forget it and schedule the next attempt (after `holdMs` when given). */
  function lost(myGen: number, holdMs?: number): void {
    if (myGen !== gen) return;
    gen++;
    clearTimeout(connectTimer);
    clearInterval(pollTimer);
    duplicate.disconnected();
    control.end();
    const wasConnected = connected;
    const uptime = wasConnected ? Date.now() - connectedAt : 0;
    setConnected(false);
    sender.end();
    dispose(client, true);
    client = undefined;
    if (!wasConnected) connectFailures++;
    if (wasConnected) log.warn({ uptimeMs: uptime, err: lastError, depth: deps.outbox.stats().depth }, 'uplink disconnected');
    if (uptime >= STABLE_MS) attempt = 0;
    let hold = holdMs;
    const takeover = hold === undefined && wasConnected ? takeovers.closed(uptime, quiet, duplicate.active()) : undefined;
    if (takeover) {
      lastError = `session taken over: ${takeover}`;
      duplicate.takenOver(takeover);
      hold = duplicateBackoffMs;
    }
    scheduleReconnect(hold);
  }

  function scheduleReconnect(holdMs?: number): void {
    if (stopping || reconnectTimer) return;
    const { minMs, maxMs } = opts.reconnect;
    const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
    // Full jitter in [min, cap]; a held-off reconnect waits its hold plus up to 10 % more.
    const delay = holdMs !== undefined ? Math.round(holdMs * (1 + Math.random() * 0.1)) : Math.round(minMs + Math.random() * Math.max(0, cap - minMs));
    attempt++;
    log.debug({ delayMs: delay, attempt }, 'reconnect scheduled');
    if (holdMs !== undefined) duplicate.retryAt(Date.now() + delay);
    reconnectTimer = setTimeout(connect, delay);
  }

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    clearTimeout(reconnectTimer);
    clearTimeout(connectTimer);
    duplicate.disconnected();
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
      control.publish(topics.state, JSON.stringify(offline), { qos: 1, retain: true });
      const pending = () => sender.inflight() > 0 || control.reserved() > 0;
      while (myGen === gen && pending() && Date.now() < deadline + 500) await sleep(10);
      const clean = myGen === gen && !pending();
      // A clean DISCONNECT (reason 0) makes the broker discard the will, so 'stopped' stays retained.
      if (myGen === gen) await endClient(c, !clean);
    } else if (c) {
      dispose(c, true);
    }
    gen++;
    clearInterval(pollTimer);
    sender.end();
    control.end();
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
    handle: (name, fn, own) => commands.handle(name, fn, own),
    kick() {
      if (connected && !stopping) sender.pump();
    },
    state() {
      const k = sender.counters();
      return {
        connected, since, lastError, reconnects, connectFailures, lastDisconnectReason,
        duplicateId: duplicate.state(),
        inflight: sender.inflight(), sent: k.sent, acked: k.acked, lastAckTs: k.lastAckTs,
        commands: commands.stats(), logsSuppressed: limiter.suppressed(),
      };
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
