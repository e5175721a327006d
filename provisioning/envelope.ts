// The signed command envelope, shared by the gateway (verify.ts) and the platform (fleet/sign.ts):
//   { v: 1, cmd, gw, version, exp, nonce, digest, payload, sig }
// `digest` is sha256 over the canonical JSON of `payload` (base64url); `sig` is Ed25519 over the
// canonical JSON of the envelope without `sig` (base64url). Canonical JSON: object keys sorted by
// UTF-16 code units at every depth, no whitespace, strings and numbers as JSON.stringify writes
// them, keys whose value is undefined left out; NaN, Infinity, bigint and functions are refused.
// That is RFC 8785 (JCS) for the JSON values a command carries. docs/provisioning.md has the prose.
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { b64url, signBytes, verifyBytes } from './keys.ts';

export const ENVELOPE_VERSION = 1;

export interface Envelope<P = unknown> {
  v: 1;
  /** The command it is for (the `{name}` of `{prefix}/{gw}/cmd/{name}`). */
  cmd: string;
  /** The gateway it is for. */
  gw: string;
  /** Strictly increasing per command kind on one gateway (the fleet tool uses the signing time in ms). */
  version: number;
  /** Expiry, ms since epoch. */
  exp: number;
  /** Random 128-bit hex: the same envelope is accepted once. */
  nonce: string;
  /** sha256 of canonicalJson(payload), base64url. */
  digest: string;
  payload: P;
  /** Ed25519 over canonicalJson(envelope without sig), base64url. */
  sig: string;
}

export type UnsignedEnvelope<P = unknown> = Omit<Envelope<P>, 'sig'>;

/** Canonical JSON (see the header); throws on values JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  return canon(value, '$');
}

function canon(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`canonical JSON: ${path} is ${v}, not a finite number`);
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return '[' + v.map((x, i) => (x === undefined ? 'null' : canon(x, `${path}[${i}]`))).join(',') + ']';
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return canon((v as { toJSON(): unknown }).toJSON(), path);
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      return '{' + keys.map((k) => JSON.stringify(k) + ':' + canon(o[k], `${path}.${k}`)).join(',') + '}';
    }
    default:
      throw new TypeError(`canonical JSON: ${path} is a ${typeof v}, which JSON cannot carry`);
  }
}

export function payloadDigest(payload: unknown): string {
  return b64url(createHash('sha256').update(canonicalJson(payload ?? null)).digest());
}

/**
 * Fields an MQTT 3.1.1 platform adds to the request body for the dispatcher (no properties
 * there): transport, not command; outside the signature.
 */
export const TRANSPORT_FIELDS = ['responseTopic', 'correlationId'] as const;

/** The bytes `sig` covers: the canonical JSON of the envelope without `sig` (and the transport fields). */
export function signingInput(env: UnsignedEnvelope | Envelope): Buffer {
  const { sig: _sig, ...rest } = env as Envelope & Record<string, unknown>;
  for (const k of TRANSPORT_FIELDS) delete rest[k];
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export interface SignOptions<P> {
  cmd: string;
  gw: string;
  payload: P;
  /** Default: `now` (ms), so successive signings of one command are increasing. */
  version?: number;
  /** Expiry (ms epoch); default now + ttlMs. */
  exp?: number;
  /** Default 10 minutes. */
  ttlMs?: number;
  nonce?: string;
  now?: number;
}

export const DEFAULT_ENVELOPE_TTL_MS = 10 * 60_000;

/** Builds and signs an envelope with the platform's private key. */
export function signEnvelope<P>(opts: SignOptions<P>, privateKey: KeyObject): Envelope<P> {
  const now = opts.now ?? Date.now();
  const body: UnsignedEnvelope<P> = {
    v: 1,
    cmd: opts.cmd,
    gw: opts.gw,
    version: opts.version ?? now,
    exp: opts.exp ?? now + (opts.ttlMs ?? DEFAULT_ENVELOPE_TTL_MS),
    nonce: opts.nonce ?? newNonce(),
    digest: payloadDigest(opts.payload),
    payload: opts.payload,
  };
  return { ...body, sig: signBytes(signingInput(body), privateKey) };
}

/** True when `sig` verifies over the envelope and `digest` matches the payload. Never throws. */
export function envelopeSignatureOk(env: Envelope, publicKey: KeyObject): boolean {
  try {
    return verifyBytes(signingInput(env), env.sig, publicKey) && payloadDigest(env.payload) === env.digest;
  } catch {
    return false;
  }
}

/** Why `v` is not an envelope's shape (all fields present and typed), or undefined when it is. `sig` is checked apart. */
export function envelopeShapeProblem(v: Record<string, unknown>): string | undefined {
  if (v.v !== ENVELOPE_VERSION) return `"v" must be ${ENVELOPE_VERSION}, got ${JSON.stringify(v.v)}`;
  if (typeof v.cmd !== 'string' || !v.cmd || /[+#/]/.test(v.cmd)) return '"cmd" must be a command name';
  if (typeof v.gw !== 'string' || !v.gw) return '"gw" must be a gateway id';
  if (!Number.isSafeInteger(v.version) || (v.version as number) < 0) return '"version" must be a non-negative integer';
  if (!Number.isSafeInteger(v.exp) || (v.exp as number) <= 0) return '"exp" must be a time in ms since epoch';
  if (typeof v.nonce !== 'string' || !/^[0-9a-f]{32}$/.test(v.nonce)) return '"nonce" must be 32 lowercase hex digits (128 random bits)';
  if (typeof v.digest !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(v.digest)) return '"digest" must be a base64url sha256';
  if (!('payload' in v)) return '"payload" is missing';
  const extra = Object.keys(v).filter((k) => !ENVELOPE_KEYS.has(k));
  if (extra.length) return `unknown field(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}`;
  return undefined;
}

const ENVELOPE_KEYS = new Set<string>(['v', 'cmd', 'gw', 'version', 'exp', 'nonce', 'digest', 'payload', 'sig', ...TRANSPORT_FIELDS]);
