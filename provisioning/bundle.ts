// The enrollment protocol shared by the gateway (enroll.ts) and the platform (fleet/): the
// bundle, and the online claim request and answer.
//
// A bundle is an envelope (envelope.ts) with cmd "provision", signed by the platform key:
// `version` is its signing time (a re-provisioning bundle must be newer than the one applied),
// `exp` its expiry, and the payload says who the gateway is and how it reaches the broker.
//
// Online claim: the gateway publishes a ClaimRequest (QoS 1) on `{prefix}/claim/req`, signed
// with its own key, and waits on `{prefix}/claim/res/{rid}` for a ClaimAnswer whose bundle is
// sealed (seal.ts) to the X25519 key `epk` it made for this request.
import { ID_RE } from '../runtime/config/fields.ts';
import { canonicalJson, type Envelope } from './envelope.ts';
import type { Sealed } from './seal.ts';

export const BUNDLE_CMD = 'provision';

export interface BrokerGrant {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the platform broker. */
  url: string;
  username?: string;
  password?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  certPem?: string;
  keyPem?: string;
  /** CA bundle (PEM) to verify the broker with. */
  caPem?: string;
}

export interface BundlePayload {
  site?: string;
  tags: Record<string, string>;
  /** The platform's public key (raw Ed25519, base64url): pinned on first enrollment. */
  platformKey: string;
  broker: BrokerGrant;
  /** Online bundles: the gateway public key the bundle was issued to. */
  gatewayKey?: string;
}

export type Bundle = Envelope<BundlePayload>;

const URL_RE = /^(mqtts?|wss?):\/\/[^\s/]+(\/\S*)?$/;
const TAG_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why a bundle payload is not usable, or undefined. */
export function bundlePayloadProblem(p: unknown): string | undefined {
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'payload must be an object';
  const b = p as Record<string, unknown>;
  if (b.site !== undefined && (typeof b.site !== 'string' || !b.site || b.site.length > 256)) return 'site must be a string of 1-256 characters';
  const tagProblem = tagsProblem(b.tags);
  if (tagProblem) return tagProblem;
  if (typeof b.platformKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(b.platformKey)) return 'platformKey must be a raw Ed25519 public key in base64url';
  const broker = b.broker as Record<string, unknown> | undefined;
  if (!broker || typeof broker !== 'object') return 'broker is missing';
  if (typeof broker.url !== 'string' || !URL_RE.test(broker.url)) return `broker.url must be an mqtt, mqtts, ws or wss URL, got ${JSON.stringify(broker.url)}`;
  for (const k of ['username', 'password', 'certPem', 'keyPem', 'caPem'] as const) {
    if (broker[k] !== undefined && (typeof broker[k] !== 'string' || !broker[k])) return `broker.${k} must be a non-empty string`;
  }
  if ((broker.certPem === undefined) !== (broker.keyPem === undefined)) return 'broker.certPem and broker.keyPem go together';
  if (broker.username === undefined && broker.certPem === undefined) return 'broker needs a username (and password) or a client certificate';
  if (b.gatewayKey !== undefined && (typeof b.gatewayKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(b.gatewayKey))) return 'gatewayKey must be a raw Ed25519 public key in base64url';
  return undefined;
}

export function tagsProblem(tags: unknown): string | undefined {
  if (!tags || typeof tags !== 'object' || Array.isArray(tags)) return 'tags must be an object of strings';
  const entries = Object.entries(tags);
  if (entries.length > 64) return 'at most 64 tags';
  for (const [k, v] of entries) {
    if (!TAG_KEY_RE.test(k)) return `tag name ${JSON.stringify(k)} must be 1-64 letters, digits, ".", "_" or "-"`;
    if (typeof v !== 'string' || v.length > 256) return `tag ${k} must be a string of at most 256 characters`;
  }
  return undefined;
}

export function gatewayIdProblem(gw: unknown): string | undefined {
  return typeof gw === 'string' && ID_RE.test(gw) ? undefined : `gateway id must be 1-64 lowercase letters, digits, ".", "_" or "-" starting with a letter or digit, got ${JSON.stringify(gw)}`;
}

/** `k=v` command-line tags to an object; throws naming the bad one. */
export function parseTags(list: string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const t of list ?? []) {
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`--tag expects key=value, got ${JSON.stringify(t)}`);
    tags[t.slice(0, i)] = t.slice(i + 1);
  }
  const problem = tagsProblem(tags);
  if (problem) throw new Error(`--tag: ${problem}`);
  return tags;
}

// ---- online claim

export function claimTopics(prefix: string): { request: string; answer(rid: string): string; answerFilter: string } {
  const base = `${prefix.replace(/\/+$/, '')}/claim`;
  return { request: `${base}/req`, answer: (rid) => `${base}/res/${rid}`, answerFilter: `${base}/res/+` };
}

export interface ClaimRequest {
  v: 1;
  claim: string;
  /** The gateway's Ed25519 public key (raw, base64url). */
  publicKey: string;
  site?: string;
  tags: Record<string, string>;
  /** Random 128-bit hex: names the answer topic and binds the sealed answer. */
  rid: string;
  /** X25519 public key (raw, base64url) the answer is sealed to. */
  epk: string;
  ts: number;
  /** Ed25519 by the gateway key over the canonical JSON of the rest: proves it holds the key it enrolls. */
  sig: string;
}

export type ClaimAnswer = { v: 1; ok: true; sealed: Sealed } | { v: 1; ok: false; error: { code: ClaimErrorCode; message: string } };

export const CLAIM_ERROR_CODES = ['unknown_claim', 'claim_expired', 'claim_used', 'bad_request', 'bad_signature', 'failed'] as const;
export type ClaimErrorCode = (typeof CLAIM_ERROR_CODES)[number];

export function claimSigningInput(req: Omit<ClaimRequest, 'sig'> | ClaimRequest): Buffer {
  const { sig: _sig, ...rest } = req as ClaimRequest;
  return Buffer.from(canonicalJson(rest), 'utf8');
}
