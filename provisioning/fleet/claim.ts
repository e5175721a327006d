// The platform's online claim service: answers enrollment requests on `{prefix}/claim/req` for a
// list of claim codes, each for one gateway id, with an expiry, usable once. A code is bound to
// the first gateway key that claims it (recorded durably before the answer goes out); the same
// key asking again (its answer was lost) gets a fresh bundle, another key gets `claim_used`.
// The answer is sealed to the request's X25519 key, so other clients of the shared claim account
// cannot read the broker credentials it carries.
import { randomBytes, type KeyObject } from 'node:crypto';
import { basename, dirname } from 'node:path';
import mqtt, { type IClientOptions } from 'mqtt';
import { stateDir } from '../../runtime/state.ts';
import { claimSigningInput, claimTopics, tagsProblem, type ClaimAnswer, type ClaimErrorCode, type ClaimRequest } from '../bundle.ts';
import { publicKeyFromRaw, verifyBytes } from '../keys.ts';
import { seal } from '../seal.ts';
import { openDoc } from '../store.ts';
import { makeBundle } from './sign.ts';

export interface ClaimEntry {
  /** The claim code the installer types (use 128+ random bits: `wayside-fleet claim --new`). */
  code: string;
  /** The gateway id the code enrolls. */
  gw: string;
  /** Expiry: ms epoch or an ISO 8601 time. */
  expires: number | string;
  /** Site and tags the platform decides; the gateway's own are used where these are absent. */
  site?: string;
  tags?: Record<string, string>;
  /** Broker credentials for the gateway; without them `issueCredentials` is asked. */
  username?: string;
  password?: string;
  certPem?: string;
  keyPem?: string;
}

export interface ClaimServiceOptions {
  /** Broker the service connects to (as the platform user). */
  url: string;
  mqtt?: IClientOptions;
  prefix?: string;
  claims: ClaimEntry[];
  platformKey: KeyObject;
  /** Broker URL put into bundles (what gateways connect to); default `url`. */
  brokerUrl?: string;
  /** CA bundle (PEM) put into bundles. */
  caPem?: string;
  /** JSON file recording used codes (survives restarts); in memory only when absent. */
  usedFile?: string;
  /** Makes broker credentials for a claim that has none (e.g. adds the user to the broker). */
  issueCredentials?(entry: ClaimEntry, gatewayKey: string): Promise<{ username: string; password: string }>;
  bundleTtlMs?: number;
  now?: () => number;
  /** Called for every request handled (for logs). */
  onRequest?(r: { code: string; gw?: string; outcome: 'issued' | ClaimErrorCode; message?: string }): void;
}

export interface ClaimService {
  stop(): Promise<void>;
  stats(): { issued: number; refused: Partial<Record<ClaimErrorCode, number>> };
}

interface UsedDoc {
  v: 1;
  used: Record<string, { gw: string; publicKey: string; at: number }>;
}

export function claimExpiry(e: ClaimEntry): number {
  const t = typeof e.expires === 'number' ? e.expires : Date.parse(e.expires);
  if (!Number.isFinite(t)) throw new Error(`claim for ${e.gw}: expires must be ms since epoch or an ISO time, got ${JSON.stringify(e.expires)}`);
  return t;
}

/** A new random claim code (128 bits, base32-like, grouped for typing). */
export function newClaimCode(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(26);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s.match(/.{1,5}/g)!.join('-');
}

export async function startClaimService(opts: ClaimServiceOptions): Promise<ClaimService> {
  const now = opts.now ?? Date.now;
  const byCode = new Map<string, ClaimEntry>();
  for (const c of opts.claims) {
    if (!c.code || typeof c.code !== 'string') throw new Error(`claim for ${c.gw}: code is missing`);
    claimExpiry(c);
    if (byCode.has(c.code)) throw new Error(`claim code listed twice (gateways ${byCode.get(c.code)!.gw} and ${c.gw})`);
    byCode.set(c.code, c);
  }
  const usedDb = opts.usedFile ? openDoc<UsedDoc>(stateDir(dirname(opts.usedFile)), basename(opts.usedFile), { v: 1, used: {} }) : undefined;
  const used: UsedDoc = usedDb?.data ?? { v: 1, used: {} };
  const topics = claimTopics(opts.prefix ?? 'wayside/v1');
  const stats = { issued: 0, refused: {} as Partial<Record<ClaimErrorCode, number>> };

  const client = mqtt.connect(opts.url, { protocolVersion: 5, reconnectPeriod: 1000, clientId: `wayside-claim-service-${randomBytes(4).toString('hex')}`, ...opts.mqtt });
  client.on('error', () => {}); // reconnects on its own
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`claim service: cannot connect to ${opts.url}`)), 15_000);
    client.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const granted = await client.subscribeAsync(topics.request, { qos: 1 });
  if (!granted[0] || granted[0].qos >= 0x80) {
    await client.endAsync(true);
    throw new Error(`claim service: the broker refused the subscription to ${topics.request}: check the platform user's ACL`);
  }

  const answer = (rid: string, a: ClaimAnswer) => client.publish(topics.answer(rid), JSON.stringify(a), { qos: 1 });
  const refuse = (rid: string, code: ClaimErrorCode, message: string, claim = '', gw?: string) => {
    stats.refused[code] = (stats.refused[code] ?? 0) + 1;
    opts.onRequest?.({ code: claim, gw, outcome: code, message });
    answer(rid, { v: 1, ok: false, error: { code, message } });
  };

  const handle = async (payload: Buffer) => {
    let req: ClaimRequest;
    try {
      req = JSON.parse(payload.toString('utf8')) as ClaimRequest;
    } catch {
      return; // nowhere to answer
    }
    if (!req || typeof req !== 'object' || typeof req.rid !== 'string' || !/^[0-9a-f]{32}$/.test(req.rid)) return;
    const rid = req.rid;
    if (req.v !== 1 || typeof req.claim !== 'string' || typeof req.publicKey !== 'string' || typeof req.epk !== 'string' || typeof req.sig !== 'string' || tagsProblem(req.tags) || (req.site !== undefined && typeof req.site !== 'string')) {
      return refuse(rid, 'bad_request', 'not a claim request { v: 1, claim, publicKey, tags, rid, epk, ts, sig }');
    }
    let ok = false;
    try {
      ok = verifyBytes(claimSigningInput(req), req.sig, publicKeyFromRaw(req.publicKey));
    } catch {
      ok = false;
    }
    if (!ok) return refuse(rid, 'bad_signature', 'the request is not signed by the key it enrolls', req.claim);
    const entry = byCode.get(req.claim);
    if (!entry) return refuse(rid, 'unknown_claim', 'no such claim code');
    if (now() > claimExpiry(entry)) return refuse(rid, 'claim_expired', `claim code expired at ${new Date(claimExpiry(entry)).toISOString()}`, req.claim, entry.gw);
    const prior = used.used[req.claim];
    if (prior && prior.publicKey !== req.publicKey) return refuse(rid, 'claim_used', `claim code was used at ${new Date(prior.at).toISOString()}`, req.claim, entry.gw);
    try {
      let { username, password } = entry;
      if (password === undefined && entry.certPem === undefined) {
        if (!opts.issueCredentials) throw new Error(`claim for ${entry.gw} has no broker credentials and the service makes none`);
        ({ username, password } = await opts.issueCredentials(entry, req.publicKey));
      }
      const bundle = makeBundle(opts.platformKey, {
        gw: entry.gw,
        site: entry.site ?? req.site,
        tags: { ...req.tags, ...entry.tags },
        broker: { url: opts.brokerUrl ?? opts.url, username: username ?? (entry.certPem ? undefined : entry.gw), password, certPem: entry.certPem, keyPem: entry.keyPem, caPem: opts.caPem },
        gatewayKey: req.publicKey,
        ttlMs: opts.bundleTtlMs,
        now: now(),
      });
      if (!prior) {
        used.used[req.claim] = { gw: entry.gw, publicKey: req.publicKey, at: now() };
        usedDb?.write();
      }
      stats.issued++;
      opts.onRequest?.({ code: req.claim, gw: entry.gw, outcome: 'issued' });
      answer(rid, { v: 1, ok: true, sealed: seal(JSON.stringify(bundle), req.epk, rid) });
    } catch (err) {
      refuse(rid, 'failed', (err as Error).message, req.claim, entry.gw);
    }
  };

  let chain = Promise.resolve();
  client.on('message', (topic, payload) => {
    if (topic !== topics.request) return;
    // One at a time: two racing claims of one code must not both win.
    chain = chain.then(() => handle(payload)).catch(() => {});
  });

  return {
    stop: async () => {
      await chain;
      await client.endAsync();
    },
    stats: () => ({ issued: stats.issued, refused: { ...stats.refused } }),
  };
}
