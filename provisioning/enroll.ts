// Enrollment: turning a platform-signed bundle into this gateway's identity. Offline, the bundle
// comes as a file (`wayside-fleet claim --offline`); online, the gateway trades a claim code for
// it over MQTT (`wayside-fleet claim --serve`). Either way applyBundle checks it and writes, under
// `<stateDir>/provisioning/`: identity.json, the broker secret files (broker-password, ca.pem,
// client.crt, client.key; 0600) and uplink.yaml, the `gateway:` + `uplink:` blocks to put into
// wayside.yaml (the password referenced as `{ file: ... }`, so the fragment holds no secret).
//
// Trust: the first bundle is checked against the platform key it carries (trust on first use,
// made safe by how the bundle reached the gateway: the installer's hands, or a single-use claim
// code); from then on that key is pinned and a new bundle must be signed by it and be newer.
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import mqtt from 'mqtt';
import type { StateDir } from '../runtime/state.ts';
import { BUNDLE_CMD, bundlePayloadProblem, claimSigningInput, claimTopics, gatewayIdProblem, tagsProblem, type Bundle, type ClaimAnswer, type ClaimRequest } from './bundle.ts';
import { envelopeShapeProblem, envelopeSignatureOk } from './envelope.ts';
import { ProvisioningError } from './errors.ts';
import { loadOrCreateGatewayKeys } from './identity.ts';
import { fingerprint, publicKeyFromRaw, signBytes } from './keys.ts';
import { newBoxKeys, unseal } from './seal.ts';
import { CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE, FRAGMENT_FILE, openStore, PASSWORD_FILE, writeFileAtomic, type BrokerIdentity, type IdentityDoc } from './store.ts';

/** Expiry slack for bundles (the installer's laptop and the pole may disagree on the time). */
export const BUNDLE_SKEW_MS = 5 * 60_000;

export interface EnrollResult {
  identity: IdentityDoc;
  /** Absolute path of the uplink.yaml fragment. */
  fragmentFile: string;
  /** Its text. */
  fragment: string;
  /** True when a pinned identity was replaced (re-provisioning). */
  reprovisioned: boolean;
}

/** Checks `bundle` and writes the identity (see the header). Throws a ProvisioningError with the refusal's code. */
export function applyBundle(dir: StateDir, bundle: unknown, opts: { method: 'offline' | 'online'; now?: number }): EnrollResult {
  const now = opts.now ?? Date.now();
  if (!bundle || typeof bundle !== 'object' || Array.isArray(bundle)) throw new ProvisioningError('bad_request', 'bundle must be a JSON object');
  const b = bundle as Record<string, unknown>;
  if (typeof b.sig !== 'string') throw new ProvisioningError('unsigned', 'bundle has no signature ("sig")');
  const shape = envelopeShapeProblem(b);
  if (shape) throw new ProvisioningError('bad_request', `bundle: ${shape}`);
  if (b.cmd !== BUNDLE_CMD) throw new ProvisioningError('wrong_command', `bundle: "cmd" must be "${BUNDLE_CMD}", got ${JSON.stringify(b.cmd)}`);
  const idProblem = gatewayIdProblem(b.gw);
  if (idProblem) throw new ProvisioningError('bad_request', `bundle: ${idProblem}`);
  const payloadProblem = bundlePayloadProblem(b.payload);
  if (payloadProblem) throw new ProvisioningError('bad_request', `bundle: ${payloadProblem}`);
  const env = bundle as Bundle;
  const p = env.payload;

  const store = openStore(dir);
  const pinned = store.identity();
  const trustKey = pinned ? pinned.platformKey : p.platformKey;
  if (!envelopeSignatureOk(env, publicKeyFromRaw(trustKey))) {
    throw new ProvisioningError(
      'bad_signature',
      pinned
        ? `bundle is not signed by the pinned platform key ${pinned.platformKeyFingerprint} (re-provisioning needs the platform's signature)`
        : 'bundle signature does not verify against the platform key it carries',
    );
  }
  if (now > env.exp + BUNDLE_SKEW_MS) throw new ProvisioningError('expired', `bundle expired at ${new Date(env.exp).toISOString()}`);
  if (pinned && env.version <= pinned.bundleVersion) {
    throw new ProvisioningError('stale_version', `bundle version ${env.version} is not newer than the applied one (${pinned.bundleVersion})`);
  }
  const keys = loadOrCreateGatewayKeys(dir);
  if (p.gatewayKey !== undefined && p.gatewayKey !== keys.publicKey) {
    throw new ProvisioningError('wrong_gateway', 'bundle was issued to another gateway key');
  }

  // Secrets first, identity last: a crash in between leaves the old identity in force.
  const broker: BrokerIdentity = { url: p.broker.url, username: p.broker.username };
  const put = (name: string, text: string) => {
    const file = store.file(name);
    writeFileAtomic(file, text.endsWith('\n') || name === PASSWORD_FILE ? text : text + '\n', 0o600);
    return file;
  };
  if (p.broker.password !== undefined) broker.passwordFile = put(PASSWORD_FILE, p.broker.password);
  if (p.broker.caPem !== undefined) broker.caFile = put(CA_FILE, p.broker.caPem);
  if (p.broker.certPem !== undefined && p.broker.keyPem !== undefined) {
    broker.certFile = put(CLIENT_CERT_FILE, p.broker.certPem);
    broker.keyFile = put(CLIENT_KEY_FILE, p.broker.keyPem);
  }
  const identity: IdentityDoc = {
    v: 1,
    gatewayId: env.gw,
    ...(p.site !== undefined ? { site: p.site } : {}),
    tags: p.tags,
    platformKey: p.platformKey,
    platformKeyFingerprint: fingerprint(p.platformKey),
    publicKey: keys.publicKey,
    broker,
    enrolledAt: now,
    bundleVersion: env.version,
    method: opts.method,
  };
  const fragment = uplinkFragment(identity, now);
  const fragmentFile = store.file(FRAGMENT_FILE);
  writeFileAtomic(fragmentFile, fragment, 0o600);
  store.saveIdentity(identity);
  return { identity, fragmentFile, fragment, reprovisioned: !!pinned };
}

/** The wayside.yaml blocks for an identity (no secret values: the password is a file reference). */
export function uplinkFragment(id: IdentityDoc, now = Date.now()): string {
  const uplink: Record<string, unknown> = { url: id.broker.url };
  if (id.broker.username !== undefined) uplink.username = id.broker.username;
  if (id.broker.passwordFile) uplink.password = { file: id.broker.passwordFile };
  const tls: Record<string, string> = {};
  if (id.broker.caFile) tls.ca = id.broker.caFile;
  if (id.broker.certFile) tls.cert = id.broker.certFile;
  if (id.broker.keyFile) tls.key = id.broker.keyFile;
  if (Object.keys(tls).length) uplink.tls = tls;
  const gateway: Record<string, unknown> = { id: id.gatewayId };
  if (id.site !== undefined) gateway.site = id.site;
  return (
    `# Written by \`wayside provision\` at ${new Date(now).toISOString()} (platform key ${id.platformKeyFingerprint}).\n` +
    '# Put these blocks into wayside.yaml (keep gateway.stateDir and the rest of your own settings).\n' +
    stringify({ gateway, uplink })
  );
}

// ---- online

export interface OnlineEnrollOptions {
  /** The platform broker, e.g. mqtts://platform.example:8883. */
  url: string;
  claim: string;
  site?: string;
  tags?: Record<string, string>;
  /** The shared, low-privilege claim account (default "claim" / "claim"). */
  username?: string;
  password?: string;
  /** CA bundle (PEM text) for mqtts. */
  ca?: string;
  prefix?: string;
  /** How long to wait for the answer (default 30 s). */
  timeoutMs?: number;
  now?: () => number;
}

/** A refusal by the claim service: its code (unknown_claim, claim_expired, claim_used, ...). */
export class ClaimRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ClaimRefused';
    this.code = code;
  }
}

/** Trades a claim code for a bundle over MQTT and applies it. */
export async function enrollOnline(dir: StateDir, opts: OnlineEnrollOptions): Promise<EnrollResult> {
  if (!opts.claim || opts.claim.length > 256) throw new Error('--claim: expected a claim code');
  const tags = opts.tags ?? {};
  const tp = tagsProblem(tags);
  if (tp) throw new Error(tp);
  const now = opts.now ?? Date.now;
  const keys = loadOrCreateGatewayKeys(dir);
  const box = newBoxKeys();
  const rid = randomBytes(16).toString('hex');
  const topics = claimTopics(opts.prefix ?? 'wayside/v1');
  const body: Omit<ClaimRequest, 'sig'> = {
    v: 1, claim: opts.claim, publicKey: keys.publicKey, ...(opts.site !== undefined ? { site: opts.site } : {}), tags, rid, epk: box.publicKey, ts: now(),
  };
  const request: ClaimRequest = { ...body, sig: signBytes(claimSigningInput(body), keys.privateKey) };
  const timeoutMs = opts.timeoutMs ?? 30_000;

  const client = mqtt.connect(opts.url, {
    protocolVersion: 5,
    writeCache: false, // no 65,536-Buffer packet-id cache (~7 MB) on a gateway
    clientId: `wayside-claim-${rid.slice(0, 12)}`,
    username: opts.username ?? 'claim',
    password: opts.password ?? 'claim',
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    reconnectPeriod: 0,
    connectTimeout: Math.min(timeoutMs, 15_000),
    clean: true,
  });
  try {
    const answer = await new Promise<ClaimAnswer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from the claim service at ${opts.url} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      client.on('error', (err) => fail(new Error(`claim connection to ${opts.url} failed: ${err.message}`, { cause: err })));
      client.on('close', () => fail(new Error(`claim connection to ${opts.url} closed before an answer`)));
      client.on('message', (topic, payload) => {
        if (topic !== topics.answer(rid)) return;
        try {
          const a = JSON.parse(payload.toString('utf8')) as ClaimAnswer;
          clearTimeout(timer);
          resolve(a);
        } catch (err) {
          fail(new Error(`claim answer is not JSON: ${(err as Error).message}`));
        }
      });
      client.once('connect', () => {
        client.subscribe(topics.answer(rid), { qos: 1 }, (err, granted) => {
          if (err) return fail(new Error(`cannot subscribe to ${topics.answer(rid)}: ${err.message}`));
          const code = granted?.[0]?.qos;
          if (code === undefined || code >= 0x80) return fail(new Error(`the broker refused the subscription to ${topics.answer(rid)} (code 0x${(code ?? 0x80).toString(16)}): check the claim account's ACL`));
          client.publish(topics.request, JSON.stringify(request), { qos: 1 }, (perr) => {
            if (perr) fail(new Error(`cannot publish the claim request on ${topics.request}: ${perr.message}`));
          });
        });
      });
    });
    if (!answer || answer.v !== 1) throw new Error('claim answer: unknown format');
    if (!answer.ok) throw new ClaimRefused(answer.error?.code ?? 'failed', `claim refused (${answer.error?.code}): ${answer.error?.message}`);
    let bundle: unknown;
    try {
      bundle = JSON.parse(unseal(answer.sealed, box.privateKey, rid));
    } catch (err) {
      throw new Error(`claim answer could not be opened: ${(err as Error).message}`, { cause: err });
    }
    const b = bundle as Bundle;
    if (b?.payload?.gatewayKey !== keys.publicKey) throw new ProvisioningError('wrong_gateway', 'the claim service issued the bundle to another gateway key');
    return applyBundle(dir, bundle, { method: 'online', now: now() });
  } finally {
    client.removeAllListeners('close');
    client.on('error', () => {});
    await client.endAsync(true).catch(() => {});
  }
}
