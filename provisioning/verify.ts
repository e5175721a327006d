// Verification of signed command envelopes on the gateway. Every refusal has its code
// (errors.ts), raises an `audit.refused` event and counts in the provisioning health; an accepted
// envelope is recorded durably (nonce and version, replay.json) before its handler runs and
// raises `audit.accepted`. `verifyThen(handler)` wraps a command handler so it only ever sees
// payloads of envelopes that passed, in this order:
//   size -> JSON -> has sig (unsigned) -> enrolled -> shape -> signature and digest ->
//   gateway -> command -> expiry (with skew) -> nonce -> version.
import type { Clock } from '../runtime/types.ts';
import type { ServiceCommand } from '../runtime/service.ts';
import { envelopeShapeProblem, envelopeSignatureOk, type Envelope } from './envelope.ts';
import { ProvisioningError, type ProvisioningErrorCode } from './errors.ts';
import { publicKeyFromRaw } from './keys.ts';
import type { ProvisioningStore } from './store.ts';
import type { KeyObject } from 'node:crypto';

export interface VerifyLimits {
  /** Largest envelope (bytes of its JSON). */
  maxEnvelopeBytes: number;
  /** How far past `exp` an envelope is still accepted (clock skew between platform and gateway). */
  clockSkewMs: number;
  /** Largest `exp - now` accepted (bounds how long nonces must be kept); checked while the clock is trusted. */
  maxTtlMs: number;
}

export const DEFAULT_VERIFY_LIMITS: VerifyLimits = { maxEnvelopeBytes: 64 * 1024, clockSkewMs: 30_000, maxTtlMs: 24 * 3600_000 };

/** `data` of the `audit.refused` event. */
export type AuditRefusedData = {
  cmd: string;
  code: ProvisioningErrorCode;
  reason: string;
  nonce?: string;
  gw?: string;
  version?: number;
  /** Refusals of this code not raised as events since the last one (rate limit). */
  suppressed?: number;
};

/** `data` of the `audit.accepted` event. */
export type AuditAcceptedData = {
  cmd: string;
  nonce: string;
  version: number;
  digest: string;
};

export type AuditEvent = { type: 'audit.refused'; data: AuditRefusedData } | { type: 'audit.accepted'; data: AuditAcceptedData };

export interface VerifierDeps {
  store: ProvisioningStore;
  /** This gateway's id (the `{gw}` of its topics: config `gateway.id`). */
  gatewayId(): string;
  limits(): VerifyLimits;
  clock: Pick<Clock, 'now' | 'mono' | 'trusted'>;
  /** Raises the audit event (the service emits it on the bus). */
  audit(e: AuditEvent): void;
  /** Refusals of one code raised as events per minute; the rest are counted (default 20). */
  auditPerMinute?: number;
}

export type VerifyResult = { ok: true; envelope: Envelope } | { ok: false; code: ProvisioningErrorCode; reason: string };

/** What a signed command's handler gets besides the payload. */
export interface SignedMeta {
  name: string;
  envelope: Envelope;
}

export type SignedHandler<P = unknown> = (payload: P, meta: SignedMeta) => Promise<unknown>;

export interface VerifierStats {
  accepted: number;
  refused: Partial<Record<ProvisioningErrorCode, number>>;
}

export interface Verifier {
  /**
   * Checks `request` (the raw payload bytes/text, or the JSON value the dispatcher parsed) as an
   * envelope for command `cmd`; audits the outcome and records an accepted one. Never throws.
   */
  check(request: unknown, cmd: string): VerifyResult;
  /** As check, but throws the refusal as a ProvisioningError (a CommandError: its code reaches the platform). */
  verify(request: unknown, cmd: string): Envelope;
  /** A command handler that runs `handler` only for an accepted envelope for the command it is registered under. */
  verifyThen<P = unknown>(handler: SignedHandler<P>): ServiceCommand;
  stats(): VerifierStats;
}

export function createVerifier(deps: VerifierDeps): Verifier {
  const stats: VerifierStats = { accepted: 0, refused: {} };
  const perMinute = deps.auditPerMinute ?? 20;
  const windows = new Map<string, { start: number; count: number; suppressed: number }>();
  let keyCache: { raw: string; key: KeyObject } | undefined;

  const refuse = (code: ProvisioningErrorCode, reason: string, cmd: string, env?: Record<string, unknown>): VerifyResult => {
    stats.refused[code] = (stats.refused[code] ?? 0) + 1;
    const now = deps.clock.mono();
    let w = windows.get(code);
    if (!w || now - w.start >= 60_000) windows.set(code, (w = { start: now, count: 0, suppressed: w?.suppressed ?? 0 }));
    if (w.count < perMinute) {
      w.count++;
      const data: AuditRefusedData = { cmd, code, reason };
      if (env && typeof env.nonce === 'string') data.nonce = env.nonce.slice(0, 64);
      if (env && typeof env.gw === 'string') data.gw = env.gw.slice(0, 64);
      if (env && Number.isSafeInteger(env.version)) data.version = env.version as number;
      if (w.suppressed) data.suppressed = w.suppressed;
      w.suppressed = 0;
      deps.audit({ type: 'audit.refused', data });
    } else {
      w.suppressed++;
    }
    return { ok: false, code, reason };
  };

  const platformKey = (raw: string): KeyObject => {
    if (keyCache?.raw !== raw) keyCache = { raw, key: publicKeyFromRaw(raw) };
    return keyCache.key;
  };

  const check = (request: unknown, cmd: string): VerifyResult => {
    const limits = deps.limits();
    let value: unknown = request;
    if (typeof request === 'string' || Buffer.isBuffer(request)) {
      const bytes = Buffer.byteLength(request);
      if (bytes > limits.maxEnvelopeBytes) return refuse('too_large', `envelope is ${bytes} bytes, the limit is ${limits.maxEnvelopeBytes}`, cmd);
      try {
        value = JSON.parse(request.toString());
      } catch (err) {
        return refuse('bad_request', `envelope is not JSON: ${(err as Error).message}`, cmd);
      }
    } else {
      let bytes: number;
      try {
        bytes = Buffer.byteLength(JSON.stringify(request) ?? '');
      } catch {
        return refuse('bad_request', 'envelope is not serializable JSON', cmd);
      }
      if (bytes > limits.maxEnvelopeBytes) return refuse('too_large', `envelope is ${bytes} bytes, the limit is ${limits.maxEnvelopeBytes}`, cmd);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value) || !('sig' in value)) {
      return refuse('unsigned', `command "${cmd}" needs a signed envelope ({ v, cmd, gw, version, exp, nonce, digest, payload, sig })`, cmd, isObject(value) ? value : undefined);
    }
    const env = value as Record<string, unknown>;
    const identity = deps.store.identity();
    if (!identity) return refuse('not_enrolled', 'this gateway has no pinned platform key: run `wayside provision` first', cmd, env);
    const shape = envelopeShapeProblem(env);
    if (shape) return refuse('bad_request', `not a valid envelope: ${shape}`, cmd, env);
    if (typeof env.sig !== 'string') return refuse('unsigned', '"sig" must be a base64url Ed25519 signature', cmd, env);
    const e = env as unknown as Envelope;
    if (!envelopeSignatureOk(e, platformKey(identity.platformKey))) {
      return refuse('bad_signature', `signature or digest does not verify against the pinned platform key ${identity.platformKeyFingerprint}`, cmd, env);
    }
    const own = deps.gatewayId();
    if (e.gw !== own) return refuse('wrong_gateway', `envelope is for gateway "${e.gw}", this is "${own}"`, cmd, env);
    if (e.cmd !== cmd) return refuse('wrong_command', `envelope was signed for command "${e.cmd}", not "${cmd}"`, cmd, env);
    const now = deps.clock.now();
    if (now > e.exp + limits.clockSkewMs) {
      return refuse('expired', `envelope expired at ${new Date(e.exp).toISOString()} (gateway time ${new Date(now).toISOString()}, skew allowed ${limits.clockSkewMs} ms)`, cmd, env);
    }
    if (deps.clock.trusted() && e.exp - now > limits.maxTtlMs + limits.clockSkewMs) {
      return refuse('bad_request', `envelope expires ${e.exp - now} ms from now, more than the ${limits.maxTtlMs} ms allowed`, cmd, env);
    }
    if (deps.store.replay.seen(e.nonce, now)) return refuse('replayed', `nonce ${e.nonce} was already accepted`, cmd, env);
    const last = deps.store.replay.lastVersion(e.cmd);
    if (last !== undefined && e.version <= last) return refuse('stale_version', `version ${e.version} is not newer than ${last}, the last accepted for "${e.cmd}"`, cmd, env);
    deps.store.replay.accept(e.nonce, e.exp + limits.clockSkewMs, e.cmd, e.version, now);
    stats.accepted++;
    deps.audit({ type: 'audit.accepted', data: { cmd: e.cmd, nonce: e.nonce, version: e.version, digest: e.digest } });
    return { ok: true, envelope: e };
  };

  const verify = (request: unknown, cmd: string): Envelope => {
    const r = check(request, cmd);
    if (!r.ok) throw new ProvisioningError(r.code, r.reason);
    return r.envelope;
  };

  return {
    check,
    verify,
    verifyThen: <P>(handler: SignedHandler<P>): ServiceCommand =>
      async (request, meta) => {
        const envelope = verify(request, meta.name);
        return handler(envelope.payload as P, { name: meta.name, envelope });
      },
    stats: () => ({ accepted: stats.accepted, refused: { ...stats.refused } }),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
