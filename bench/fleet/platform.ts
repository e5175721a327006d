// The few platform-side calls the fleet benchmark and the cluster test need, named and shaped
// after the fleet library contract (provisioning/fleet/fleet.ts: connectFleet, command, health,
// deploy) until that library is merged; then the benchmark switches to connectFleet. What it does:
//   - one MQTT client (MQTT 5, or 3.1.1 with responseTopic/correlationId in the body,
//     docs/protocol.md) subscribed to `{prefix}/+/state`, `{prefix}/+/up/event` and its own
//     response topics `{prefix}/+/res/{clientId}/#` (the only topics the broker ACL lets a
//     gateway answer on: provisioning/acl.ts);
//   - commands: the mutating ones signed with the platform key (provisioning/fleet/sign.ts
//     signCommand), each on its own response topic, answered or timed out;
//   - deploys: the command answer (`watching`), then the gateway's deploy.confirmed /
//     deploy.rolled_back / deploy.failed event matched by gateway, target and version.
// The gateways it knows are those whose birth it saw live or retained (`gateways()`); a platform
// on a broker without cluster-wide retained messages learns them from `ping`/`health` answers.
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { SIGNED_COMMANDS } from '../../provisioning/fleet/fleet.ts';
import type { PlatformKey } from '../../provisioning/fleet/keys.ts';
import { signCommand } from '../../provisioning/fleet/sign.ts';

export interface PlatformOptions {
  url: string;
  prefix?: string;
  key: PlatformKey;
  username?: string;
  password?: string;
  clientId?: string;
  protocolVersion?: 4 | 5;
}

export interface CommandResult { gw: string; ok: boolean; result?: unknown; error?: { code: string; message: string }; ms: number }
export type DeployKind = 'flows' | 'config' | 'model';
export interface DeployOutcome {
  gw: string; status: 'confirmed' | 'rolled_back' | 'failed' | 'refused' | 'timeout' | 'skipped'; version: number; reason?: string; ms: number;
  /** Bench extra (not in the fleet contract): ms from deploy() start to the gateway's `watching` answer. */
  acceptedMs?: number;
}
export interface DeployTally { kind: DeployKind; version: number; outcomes: DeployOutcome[]; confirmed: number; failed: number; skipped: number }
export interface SeenGateway { id: string; online: boolean; since: number; deployed?: Record<string, unknown> }

export interface Platform {
  client: MqttClient;
  clientId: string;
  /** Gateways whose state message was seen (birth, will or clean stop). */
  gateways(): SeenGateway[];
  command(gw: string, name: string, payload?: unknown, opts?: { signed?: boolean; version?: number; timeoutMs?: number }): Promise<CommandResult>;
  /** `name` to every gateway, at most `concurrency` awaiting their answer at once. */
  commandAll(gws: string[], name: string, opts?: { timeoutMs?: number; concurrency?: number; payload?: unknown }): Promise<CommandResult[]>;
  health(gws: string[], opts?: { timeoutMs?: number; concurrency?: number }): Promise<CommandResult[]>;
  /**
   * A deploy to every gateway: at most `concurrency` deploy commands awaiting their answer at
   * once; each accepted deploy then waits for its outcome event (up to timeoutMs from its send).
   */
  deploy(kind: DeployKind, content: unknown, gws: string[], opts: { version: number; name?: string; timeoutMs?: number; concurrency?: number; onProgress?(o: DeployOutcome): void }): Promise<DeployTally>;
  /** The outcome event of a deploy started some other way (matched by gateway, target and version); undefined on timeout. */
  outcome(gw: string, target: string, version: number, timeoutMs?: number): Promise<DeployOutcome | undefined>;
  /** Bytes of command responses received (payload only). */
  responseBytes(): number;
  close(): Promise<void>;
}

type Waiter = (r: CommandResult) => void;
type DeployEvent = { status: DeployOutcome['status']; reason?: string };

const COMMAND_NAMES: Record<DeployKind, string> = { flows: 'flows.deploy', config: 'config.apply', model: 'model.install' };

export async function connectPlatform(o: PlatformOptions): Promise<Platform> {
  const prefix = (o.prefix ?? 'wayside/v1').replace(/\/+$/, '');
  const clientId = o.clientId ?? `platform-${randomBytes(4).toString('hex')}`;
  const v = o.protocolVersion ?? 5;
  const opts: IClientOptions = { protocolVersion: v, clientId, username: o.username, password: o.password, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 };
  const client = mqtt.connect(o.url, opts);
  client.on('error', () => undefined); // reconnects by itself; callers see timeouts
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`platform: could not connect to ${o.url} within 10 s`)), 10_000);
    client.once('connect', () => (clearTimeout(t), resolve()));
  });
  const seen = new Map<string, SeenGateway>();
  const waiting = new Map<string, Waiter>();
  /** `${gw}|${target}|${version}` -> waiter, and outcomes that came before their waiter. */
  const deployWaiters = new Map<string, (e: DeployEvent) => void>();
  const early = new Map<string, DeployEvent>();
  let seq = 0;
  let resBytes = 0;

  const stateRe = new RegExp(`^${escape(prefix)}/([^/]+)/state$`);
  const eventRe = new RegExp(`^${escape(prefix)}/([^/]+)/up/event$`);
  client.on('message', (topic, payload) => {
    const waiter = waiting.get(topic);
    if (waiter) {
      resBytes += payload.length;
      waiting.delete(topic);
      const body = parse(payload) as { ok?: boolean; result?: unknown; error?: { code: string; message: string } } | undefined;
      waiter({ gw: '', ok: body?.ok === true, result: body?.result, error: body?.error, ms: 0 });
      return;
    }
    let m = stateRe.exec(topic);
    if (m) {
      const st = parse(payload) as { online?: boolean; deployed?: Record<string, unknown> } | undefined;
      if (st) seen.set(m[1], { id: m[1], online: st.online === true, since: Date.now(), deployed: st.deployed });
      return;
    }
    m = eventRe.exec(topic);
    if (m) {
      const gw = m[1];
      const batch = parse(payload) as { records?: { body?: { type?: string; data?: { target?: string; version?: number; reason?: string | null } } }[] } | undefined;
      for (const r of batch?.records ?? []) {
        const t = r.body?.type;
        if (t !== 'deploy.confirmed' && t !== 'deploy.rolled_back' && t !== 'deploy.failed') continue;
        const key = `${gw}|${r.body!.data?.target}|${r.body!.data?.version}`;
        const ev: DeployEvent = { status: t === 'deploy.confirmed' ? 'confirmed' : t === 'deploy.rolled_back' ? 'rolled_back' : 'failed', ...(r.body!.data?.reason ? { reason: r.body!.data.reason } : {}) };
        const w = deployWaiters.get(key);
        if (w) {
          deployWaiters.delete(key);
          w(ev);
        } else {
          early.set(key, ev);
        }
      }
    }
  });
  await client.subscribeAsync([`${prefix}/+/state`, `${prefix}/+/up/event`, `${prefix}/+/res/${clientId}/#`], { qos: 1 });

  const command: Platform['command'] = async (gw, name, payload, co = {}) => {
    const t0 = performance.now();
    const n = ++seq;
    const responseTopic = `${prefix}/${gw}/res/${clientId}/${n}`;
    const correlation = `${clientId}-${n}`;
    const signed = co.signed ?? SIGNED_COMMANDS.has(name);
    let body: unknown = signed ? signCommand(o.key.privateKey, { cmd: name, gw, payload, version: co.version }) : payload;
    if (v === 4) {
      if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) throw new Error(`${name}: MQTT 3.1.1 requests must be JSON objects (the body carries responseTopic)`);
      body = { ...(body as object), responseTopic, correlationId: correlation };
    }
    const answer = new Promise<CommandResult>((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(responseTopic);
        resolve({ gw, ok: false, error: { code: 'timeout', message: `no answer from ${gw} to ${name} within ${co.timeoutMs ?? 30_000} ms` }, ms: performance.now() - t0 });
      }, co.timeoutMs ?? 30_000);
      waiting.set(responseTopic, (r) => {
        clearTimeout(timer);
        resolve({ ...r, gw, ms: performance.now() - t0 });
      });
    });
    const text = body === undefined ? '' : JSON.stringify(body);
    // Not awaited: a broker that drops the connection instead of acknowledging (RabbitMQ on a
    // denied publish) would hold the PUBACK forever; the answer's timer bounds the call.
    client.publishAsync(`${prefix}/${gw}/cmd/${name}`, text, { qos: 1, ...(v === 5 ? { properties: { responseTopic, correlationData: Buffer.from(correlation) } } : {}) }).catch((err: Error) => {
      const w = waiting.get(responseTopic);
      if (w) {
        waiting.delete(responseTopic);
        w({ gw, ok: false, error: { code: 'publish_failed', message: err.message }, ms: 0 });
      }
    });
    return answer;
  };

  const commandAll: Platform['commandAll'] = (gws, name, co = {}) =>
    pool(gws, co.concurrency ?? 50, (gw) => command(gw, name, co.payload, { timeoutMs: co.timeoutMs }));

  const deploy: Platform['deploy'] = async (kind, content, gws, d) => {
    const target = kind === 'model' ? `model-${d.name}` : kind;
    const timeoutMs = d.timeoutMs ?? 60_000;
    const outcomes: DeployOutcome[] = [];
    const done: Promise<void>[] = [];
    const start = performance.now();
    const record = (oc: DeployOutcome) => {
      outcomes.push(oc);
      d.onProgress?.(oc);
    };
    await pool(gws, d.concurrency ?? 100, async (gw) => {
      const t0 = performance.now();
      const key = `${gw}|${target}|${d.version}`;
      let settle!: (e: DeployEvent) => void;
      const outcome = new Promise<DeployEvent>((resolve) => (settle = resolve));
      const got = early.get(key);
      if (got) (early.delete(key), settle(got));
      else deployWaiters.set(key, settle);
      const payload = kind === 'flows' ? { version: d.version, flows: content } : kind === 'config' ? { version: d.version, yaml: content } : { version: d.version, ...(content as object) };
      const res = await command(gw, COMMAND_NAMES[kind], payload, { signed: true, timeoutMs });
      const acceptedMs = performance.now() - start;
      if (!res.ok) {
        deployWaiters.delete(key);
        record({ gw, status: res.error?.code === 'timeout' ? 'timeout' : 'refused', version: d.version, reason: res.error ? `${res.error.code}: ${res.error.message}` : 'no answer', ms: performance.now() - t0 });
        return;
      }
      done.push(
        (async () => {
          let timer: NodeJS.Timeout | undefined;
          const ev = await Promise.race([outcome, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), Math.max(0, timeoutMs - (performance.now() - t0)))))]);
          clearTimeout(timer);
          deployWaiters.delete(key);
          record(ev ? { gw, status: ev.status, version: d.version, ...(ev.reason ? { reason: ev.reason } : {}), ms: performance.now() - t0, acceptedMs } : { gw, status: 'timeout', version: d.version, reason: `no deploy outcome event within ${timeoutMs} ms`, ms: performance.now() - t0, acceptedMs });
        })(),
      );
    });
    await Promise.all(done);
    const confirmed = outcomes.filter((x) => x.status === 'confirmed').length;
    return { kind, version: d.version, outcomes, confirmed, failed: outcomes.length - confirmed, skipped: 0 };
  };

  const outcome: Platform['outcome'] = async (gw, target, version, timeoutMs = 30_000) => {
    const t0 = performance.now();
    const key = `${gw}|${target}|${version}`;
    const got = early.get(key);
    if (got) {
      early.delete(key);
      return { gw, status: got.status, version, ...(got.reason ? { reason: got.reason } : {}), ms: 0 };
    }
    let timer: NodeJS.Timeout | undefined;
    const ev = await Promise.race([
      new Promise<DeployEvent>((resolve) => deployWaiters.set(key, resolve)),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs))),
    ]);
    clearTimeout(timer);
    deployWaiters.delete(key);
    return ev ? { gw, status: ev.status, version, ...(ev.reason ? { reason: ev.reason } : {}), ms: performance.now() - t0 } : undefined;
  };

  return {
    client,
    clientId,
    outcome,
    gateways: () => [...seen.values()],
    command,
    commandAll,
    health: (gws, ho = {}) => commandAll(gws, 'health', ho),
    deploy,
    responseBytes: () => resBytes,
    close: () => client.endAsync(true).then(() => undefined),
  };
}

/** Runs fn over items, at most `n` at once; results in item order. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  return out;
}

function parse(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
