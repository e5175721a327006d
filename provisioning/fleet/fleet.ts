// The fleet as a library: one MQTT connection as the platform user, through which a platform
// written in TypeScript sees its gateways (the retained `{prefix}/+/state`), sends them commands
// (signed with the platform key when they change the gateway) and rolls deploys out in stages.
// `wayside-fleet list|health|deploy|rollback|logs` (cli.ts) is a thin layer over it.
//
// Commands: published QoS 1 on `{prefix}/{gw}/cmd/{name}` with the response topic
// `{prefix}/{gw}/res/{tag}/{n}` (the only place the broker ACL lets a gateway answer; `tag` is this
// connection's client id made topic-safe) and correlation data; on MQTT 3.1.1 both travel in the
// JSON body (docs/protocol.md). Signed commands' envelope versions: the signing time in ms, but
// strictly increasing within this process (and across processes when `versionFile` is given, which
// also survives the platform clock stepping back) — see nextVersion below.
//
// Deploy outcomes: before sending a deploy the fleet subscribes to `{prefix}/{gw}/up/event` and
// waits for the gateway's `deploy.confirmed` / `deploy.rolled_back` / `deploy.failed` with the
// deploy's target and version; a refusal of the command itself (bad_signature, stale_version,
// invalid_config, ...) is the outcome `refused`.
import { MUTATING } from '../deploy/commands.ts';
import { SIGNED_SERVICE_COMMANDS } from '../service.ts';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { writeFileAtomic } from '../store.ts';
import type { PlatformKey } from './keys.ts';
import { mapLimit, planStages, runRollout, tallyOf } from './rollout.ts';
import { signCommand } from './sign.ts';

export interface FleetOptions {
  /** mqtt(s)://host:port of the platform's broker. */
  url: string;
  /** Topic prefix, default 'wayside/v1'. */
  prefix?: string;
  /** From loadPlatformKey() (keys.ts): signs mutating commands. */
  key: PlatformKey;
  username?: string;
  password?: string;
  /** PEM texts. */
  ca?: string;
  cert?: string;
  keyPem?: string;
  clientId?: string;
  /** 5 (default), or 4 = MQTT 3.1.1 (correlation in the body). */
  protocolVersion?: 4 | 5;
  /**
   * A file keeping the last envelope version signed (one number). Without it versions are the
   * signing time in ms, increasing within the process only; with it they stay increasing across
   * runs even if the platform clock steps back. The CLI keeps it next to the key (`<key>.version`).
   */
  versionFile?: string;
  /** How long ready() waits for retained state to stop arriving (default 300 ms of quiet, at most 5 s). */
  settleMs?: number;
}
export type Target = { gateways?: string[]; tags?: Record<string, string>; all?: boolean };
export interface GatewayInfo { id: string; online: boolean; since?: number; site?: string; tags?: Record<string, string>; versions?: Record<string, unknown>; deployed?: Record<string, unknown>; reason?: string }
export interface CommandResult { gw: string; ok: boolean; result?: unknown; error?: { code: string; message: string }; ms: number }
export type DeployKind = 'flows' | 'config' | 'model';
export interface DeployOutcome { gw: string; status: 'confirmed' | 'rolled_back' | 'failed' | 'refused' | 'timeout' | 'skipped'; version: number; reason?: string; ms: number }
export interface DeployTally { kind: DeployKind; version: number; outcomes: DeployOutcome[]; confirmed: number; failed: number; skipped: number; stoppedEarly?: string }
export interface DeployOptions {
  version: number;
  /** Model name (default: the manifest's). */
  name?: string;
  /** Gateways deployed to first (default 1 when there are 2 or more). */
  canary?: number;
  /** Stop when a stage's (rolled_back + failed + timeout) / tried is above this (0..1, default 0.2). */
  maxFailureRate?: number;
  /** Per gateway, from sending the command to its outcome event (default 120 s). */
  timeoutMs?: number;
  /** Gateways deployed to at once within a stage (default 10). */
  concurrency?: number;
  onProgress?(o: DeployOutcome): void;
}
export interface Fleet {
  /** Resolves once the retained state of the prefix has been read (all `{prefix}/+/state`). */
  ready(): Promise<void>;
  gateways(): GatewayInfo[];
  select(t: Target): string[];
  command(gw: string, name: string, payload?: unknown, opts?: { signed?: boolean; version?: number; timeoutMs?: number }): Promise<CommandResult>;
  health(gws: string[], opts?: { timeoutMs?: number; concurrency?: number }): Promise<CommandResult[]>;
  /** Staged: `canary` gateways first; stop when the failure rate of a stage exceeds maxFailureRate (0..1). Waits for each gateway's deploy.confirmed / deploy.rolled_back / deploy.failed event (matched by target and version) up to timeoutMs. */
  deploy(kind: DeployKind, content: unknown, gws: string[], opts: DeployOptions): Promise<DeployTally>;
  rollback(kind: DeployKind, gws: string[], opts?: { to?: number; name?: string; timeoutMs?: number }): Promise<CommandResult[]>;
  logs(gw: string, lines?: number): Promise<string[]>;
  close(): Promise<void>;
}

/** Commands signed unless told otherwise (main.ts signedDeploys, the provisioning service). */
export const SIGNED_COMMANDS: ReadonlySet<string> = new Set<string>([...MUTATING, ...SIGNED_SERVICE_COMMANDS]);

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
const DEFAULT_DEPLOY_TIMEOUT_MS = 120_000;

interface Pending {
  gw: string;
  corr: string;
  t0: number;
  resolve(r: CommandResult): void;
  timer: NodeJS.Timeout;
}

interface OutcomeWaiter {
  target: string;
  version: number;
  resolve(e: { type: string; data: Record<string, unknown> }): void;
}

export async function connectFleet(opts: FleetOptions): Promise<Fleet> {
  const prefix = (opts.prefix ?? 'wayside/v1').replace(/\/+$/, '');
  if (!prefix || /[+#]/.test(prefix)) throw new Error(`invalid topic prefix ${JSON.stringify(prefix)}`);
  const protocolVersion = opts.protocolVersion ?? 5;
  const clientId = opts.clientId ?? `wayside-fleet-${randomBytes(6).toString('hex')}`;
  const tag = clientId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'fleet';
  const gws = new Map<string, GatewayInfo>();
  const pending = new Map<string, Pending>();
  const waiters = new Map<string, Set<OutcomeWaiter>>();
  const eventSubs = new Map<string, { count: number; ready: Promise<void> }>();
  let seq = 0;
  let closed = false;

  // ---- envelope versions
  let lastVersion = 0;
  if (opts.versionFile) {
    try {
      const n = Number(readFileSync(opts.versionFile, 'utf8').trim());
      if (Number.isSafeInteger(n) && n > 0) lastVersion = n;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`version file ${opts.versionFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  /** The next envelope version: now in ms, or one more than the last if the clock has not moved past it. */
  const nextVersion = (): number => {
    lastVersion = Math.max(Date.now(), lastVersion + 1);
    if (opts.versionFile) writeFileAtomic(opts.versionFile, `${lastVersion}\n`, 0o600);
    return lastVersion;
  };

  // ---- connection
  const mqttOpts: IClientOptions = {
    protocolVersion, clientId, clean: true, reconnectPeriod: 1000, connectTimeout: 10_000,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.cert ? { cert: opts.cert } : {}), ...(opts.keyPem ? { key: opts.keyPem } : {}),
  };
  const client: MqttClient = mqtt.connect(opts.url, mqttOpts);
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      client.end(true);
      reject(new Error(`cannot connect to ${redactUrl(opts.url)}: ${why}`));
    };
    const onError = (err: Error) => fail(err.message);
    const onClose = () => fail('connection closed (broker unreachable?)');
    const timer = setTimeout(() => fail('no answer within 15 s'), 15_000);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('error', onError);
      client.off('close', onClose);
      client.off('connect', onConnect);
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    client.on('error', onError);
    client.on('close', onClose);
    client.on('connect', onConnect);
  });
  client.on('error', () => {}); // reconnects by itself; commands time out meanwhile

  const stateTopic = `${prefix}/+/state`;
  const resTopic = `${prefix}/+/res/${tag}/#`;
  const stateRe = new RegExp(`^${escapeRe(prefix)}/([^/]+)/state$`);
  const eventRe = new RegExp(`^${escapeRe(prefix)}/([^/]+)/up/event$`);
  let lastStateAt = Date.now();

  client.on('message', (topic, payload, packet) => {
    const st = stateRe.exec(topic);
    if (st) {
      lastStateAt = Date.now();
      onState(st[1], payload);
      return;
    }
    const p = pending.get(topic);
    if (p) {
      onResponse(p, topic, payload, packet.properties?.correlationData);
      return;
    }
    const ev = eventRe.exec(topic);
    if (ev) onEvents(ev[1], payload);
  });

  const onState = (gw: string, payload: Buffer) => {
    if (!payload.length) {
      gws.delete(gw);
      return;
    }
    const doc = parseJson(payload) as Record<string, unknown> | undefined;
    if (!doc || typeof doc !== 'object') return;
    if (doc.probe !== undefined) return; // `wayside doctor` checking its ACL, not the gateway's state (docs/protocol.md)
    const prev = gws.get(gw);
    const online = doc.online === true;
    const info: GatewayInfo = { id: gw, online, since: typeof doc.ts === 'number' ? doc.ts : Date.now() };
    if (!online && typeof doc.reason === 'string') info.reason = doc.reason;
    // A will or a clean stop carries no description: keep what the last birth said.
    const from = online ? doc : { ...prev, ...doc };
    if (typeof from.site === 'string') info.site = from.site;
    if (isRecord(from.tags)) info.tags = from.tags as Record<string, string>;
    if (isRecord(from.versions)) info.versions = from.versions;
    if (isRecord(from.deployed)) info.deployed = from.deployed;
    gws.set(gw, info);
  };

  const onResponse = (p: Pending, topic: string, payload: Buffer, corrData: Buffer | undefined) => {
    const body = parseJson(payload) as Record<string, unknown> | undefined;
    const corr = protocolVersion === 5 ? corrData?.toString('utf8') : body?.correlationId;
    if (corr !== p.corr) return;
    pending.delete(topic);
    clearTimeout(p.timer);
    const ms = Date.now() - p.t0;
    if (!body || typeof body !== 'object') return p.resolve({ gw: p.gw, ok: false, error: { code: 'bad_response', message: 'the answer is not JSON' }, ms });
    if (body.ok === true) return p.resolve({ gw: p.gw, ok: true, result: body.result, ms });
    const e = isRecord(body.error) ? body.error : {};
    p.resolve({ gw: p.gw, ok: false, error: { code: typeof e.code === 'string' ? e.code : 'failed', message: typeof e.message === 'string' ? e.message : 'the gateway answered without a reason' }, ms });
  };

  const onEvents = (gw: string, payload: Buffer) => {
    const set = waiters.get(gw);
    if (!set?.size) return;
    const batch = parseJson(payload) as { records?: unknown } | undefined;
    if (!batch || !Array.isArray(batch.records)) return;
    for (const rec of batch.records as { body?: { type?: unknown; data?: unknown } }[]) {
      const type = rec?.body?.type;
      if (type !== 'deploy.confirmed' && type !== 'deploy.rolled_back' && type !== 'deploy.failed') continue;
      const data = isRecord(rec.body!.data) ? rec.body!.data : {};
      for (const w of [...set]) {
        if (data.target === w.target && data.version === w.version) {
          set.delete(w);
          w.resolve({ type, data });
        }
      }
    }
  };

  const granted = await client.subscribeAsync([stateTopic, resTopic], { qos: 1 });
  const refused = granted.filter((g) => g.qos >= 0x80).map((g) => g.topic);
  if (refused.length) {
    await client.endAsync(true);
    throw new Error(`the broker refused the subscription to ${refused.join(', ')}: check the platform user's ACL (it needs read on ${prefix}/#)`);
  }
  lastStateAt = Date.now();
  const settleMs = opts.settleMs ?? 300;
  // Retained messages follow the SUBACK at once; there is no end marker, so: a quiet moment.
  const readyP = (async () => {
    const give = Date.now() + 5000;
    while (Date.now() - lastStateAt < settleMs && Date.now() < give) await sleep(Math.max(20, settleMs - (Date.now() - lastStateAt)));
  })();

  // ---- commands
  const command: Fleet['command'] = async (gw, name, payload, o = {}) => {
    const t0 = Date.now();
    if (closed) return { gw, ok: false, error: { code: 'closed', message: 'the fleet connection is closed' }, ms: 0 };
    if (!gw || /[+#/]/.test(gw)) throw new Error(`invalid gateway id ${JSON.stringify(gw)}`);
    if (!name || /[+#/]/.test(name)) throw new Error(`invalid command name ${JSON.stringify(name)}`);
    const signed = o.signed ?? SIGNED_COMMANDS.has(name);
    const n = ++seq;
    const topic = `${prefix}/${gw}/res/${tag}/${n}`;
    const corr = `${tag}-${n}`;
    let body: unknown = signed ? signCommand(opts.key.privateKey, { cmd: name, gw, payload: payload ?? {}, version: o.version ?? nextVersion() }) : payload;
    if (protocolVersion === 4) {
      if (body !== undefined && !isRecord(body)) throw new Error(`command ${name}: on MQTT 3.1.1 the request must be a JSON object (the response topic travels in it)`);
      body = { ...(body as Record<string, unknown> | undefined), responseTopic: topic, correlationId: corr };
    }
    const timeoutMs = o.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const answer = new Promise<CommandResult>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(topic);
        resolve({ gw, ok: false, error: { code: 'timeout', message: `no answer from ${gw} to ${name} within ${Math.round(timeoutMs / 100) / 10} s${gws.get(gw)?.online === false ? ' (it is offline)' : ''}` }, ms: Date.now() - t0 });
      }, timeoutMs);
      pending.set(topic, { gw, corr, t0, resolve, timer });
    });
    try {
      await client.publishAsync(`${prefix}/${gw}/cmd/${name}`, body === undefined ? '' : JSON.stringify(body), {
        qos: 1,
        ...(protocolVersion === 5 ? { properties: { responseTopic: topic, correlationData: Buffer.from(corr) } } : {}),
      });
    } catch (err) {
      const p = pending.get(topic);
      if (p) {
        pending.delete(topic);
        clearTimeout(p.timer);
      }
      return { gw, ok: false, error: { code: 'publish_failed', message: `the broker refused the request: ${(err as Error).message}` }, ms: Date.now() - t0 };
    }
    return answer;
  };

  // ---- deploy outcomes
  const watchEvents = async (gw: string): Promise<() => void> => {
    const topic = `${prefix}/${gw}/up/event`;
    let sub = eventSubs.get(gw);
    if (!sub) {
      sub = { count: 0, ready: client.subscribeAsync(topic, { qos: 1 }).then(() => undefined) };
      eventSubs.set(gw, sub);
    }
    sub.count++;
    await sub.ready;
    return () => {
      if (--sub!.count > 0) return;
      eventSubs.delete(gw);
      if (!closed) client.unsubscribeAsync(topic).catch(() => {});
    };
  };

  const deployOne = async (gw: string, spec: { cmd: string; payload: Record<string, unknown>; target: string; version: number; timeoutMs: number }): Promise<DeployOutcome> => {
    const t0 = Date.now();
    const done = (status: DeployOutcome['status'], reason?: string): DeployOutcome => ({ gw, status, version: spec.version, ...(reason ? { reason } : {}), ms: Date.now() - t0 });
    const unwatch = await watchEvents(gw);
    let waiter: OutcomeWaiter | undefined;
    const outcome = new Promise<{ type: string; data: Record<string, unknown> }>((resolve) => {
      waiter = { target: spec.target, version: spec.version, resolve };
      let set = waiters.get(gw);
      if (!set) waiters.set(gw, (set = new Set()));
      set.add(waiter);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const answerMs = Math.min(spec.timeoutMs, 30_000);
      const r = await command(gw, spec.cmd, spec.payload, { signed: true, timeoutMs: answerMs });
      if (!r.ok && r.error!.code !== 'timeout') return done('refused', `${r.error!.code}: ${r.error!.message}`);
      // Answered ("watching"), or the answer was lost: the outcome event decides, until the deadline.
      const left = spec.timeoutMs - (Date.now() - t0);
      const ev = await Promise.race([outcome, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, left))))]);
      if (!ev) return done('timeout', r.ok ? `no deploy outcome within ${Math.round(spec.timeoutMs / 1000)} s` : r.error!.message);
      const reason = typeof ev.data.reason === 'string' ? ev.data.reason : undefined;
      if (ev.type === 'deploy.confirmed') return done('confirmed');
      return done(ev.type === 'deploy.rolled_back' ? 'rolled_back' : 'failed', reason);
    } finally {
      clearTimeout(timer);
      waiters.get(gw)?.delete(waiter!);
      unwatch();
    }
  };

  const deploySpec = (kind: DeployKind, content: unknown, o: DeployOptions) => {
    if (!Number.isSafeInteger(o.version) || o.version < 1) throw new Error(`deploy version: expected a positive integer, got ${JSON.stringify(o.version)}`);
    switch (kind) {
      case 'flows': {
        const flows = Array.isArray(content) ? content : isRecord(content) && Array.isArray(content.flows) ? content.flows : undefined;
        if (!flows) throw new Error('flows deploy: expected the array of flow nodes (what the Node-RED editor exports)');
        return { cmd: 'flows.deploy', target: 'flows', payload: { version: o.version, flows } };
      }
      case 'config':
        if (typeof content !== 'string' || !content.trim()) throw new Error('config deploy: expected the YAML text of the whole config');
        return { cmd: 'config.apply', target: 'config', payload: { version: o.version, yaml: content } };
      case 'model': {
        const c = isRecord(content) ? content : {};
        const manifest = c.manifest;
        const name = o.name ?? (isRecord(manifest) && typeof manifest.name === 'string' ? manifest.name : undefined);
        if (!isRecord(manifest) || !name) throw new Error('model deploy: expected { manifest: { name, task, file, sha256, input }, bytes }');
        const bytes = Buffer.isBuffer(c.bytes) || c.bytes instanceof Uint8Array ? Buffer.from(c.bytes as Uint8Array).toString('base64') : c.bytes;
        if (typeof bytes !== 'string' || !bytes) throw new Error('model deploy: bytes: expected the model file (Buffer or base64)');
        return { cmd: 'model.install', target: `model-${name}`, payload: { version: o.version, manifest, bytes } };
      }
      default:
        throw new Error(`unknown deploy kind ${JSON.stringify(kind)} (flows, config or model)`);
    }
  };

  return {
    ready: () => readyP,
    gateways: () => [...gws.values()].sort((a, b) => a.id.localeCompare(b.id)).map((g) => ({ ...g })),
    select(t) {
      const out = new Set<string>(t.gateways ?? []);
      for (const g of gws.values()) {
        if (t.all) out.add(g.id);
        else if (t.tags && Object.keys(t.tags).length && Object.entries(t.tags).every(([k, v]) => g.tags?.[k] === v)) out.add(g.id);
      }
      return [...out].sort();
    },
    command,
    health: (list, o = {}) => mapLimit(list, o.concurrency ?? 16, (gw) => command(gw, 'health', undefined, { signed: false, timeoutMs: o.timeoutMs })),
    async deploy(kind, content, list, o) {
      const spec = deploySpec(kind, content, o);
      const timeoutMs = o.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
      const skipped: DeployOutcome[] = [];
      const live: string[] = [];
      for (const gw of [...new Set(list)]) {
        const info = gws.get(gw);
        if (info?.online) live.push(gw);
        else {
          const s: DeployOutcome = { gw, status: 'skipped', version: o.version, reason: info ? `offline${info.reason ? ` (${info.reason})` : ''}` : 'unknown gateway (no state on the broker)', ms: 0 };
          skipped.push(s);
          o.onProgress?.(s);
        }
      }
      const r = await runRollout(planStages(live, { canary: o.canary }), (gw) => deployOne(gw, { ...spec, version: o.version, timeoutMs }), {
        version: o.version,
        maxFailureRate: o.maxFailureRate ?? 0.2,
        concurrency: o.concurrency,
        onProgress: o.onProgress,
      });
      const outcomes = [...r.outcomes, ...skipped] as DeployOutcome[];
      return { kind, version: o.version, outcomes, ...tallyOf(outcomes), ...(r.stoppedEarly ? { stoppedEarly: r.stoppedEarly } : {}) };
    },
    async rollback(kind, list, o = {}) {
      if (kind === 'model') throw new Error('models have no rollback command: deploy the previous model version again (model.install) or remove it (model.remove)');
      if (kind !== 'flows' && kind !== 'config') throw new Error(`unknown deploy kind ${JSON.stringify(kind)} (flows or config)`);
      if (o.to !== undefined && (!Number.isSafeInteger(o.to) || o.to < 0)) throw new Error(`rollback --to: expected a version number, got ${JSON.stringify(o.to)}`);
      return mapLimit(list, 10, (gw) => command(gw, `${kind}.rollback`, o.to !== undefined ? { to: o.to } : {}, { signed: true, timeoutMs: o.timeoutMs ?? 30_000 }));
    },
    async logs(gw, lines = 100) {
      const r = await command(gw, 'logs.tail', { lines }, { signed: true });
      if (!r.ok) throw new Error(`${gw}: logs.tail: ${r.error!.code}: ${r.error!.message}`);
      const l = (r.result as { lines?: unknown })?.lines;
      return Array.isArray(l) ? l.filter((x): x is string => typeof x === 'string') : [];
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const [topic, p] of pending) {
        clearTimeout(p.timer);
        p.resolve({ gw: p.gw, ok: false, error: { code: 'closed', message: 'the fleet connection was closed before the answer' }, ms: Date.now() - p.t0 });
        pending.delete(topic);
      }
      await client.endAsync();
    },
  };
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
