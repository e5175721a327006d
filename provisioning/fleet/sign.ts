// Signing on the platform side: command envelopes (the building block of deploys) and
// enrollment bundles. Both are envelopes (../envelope.ts) signed with the platform key.
import type { KeyObject } from 'node:crypto';
import { BUNDLE_CMD, bundlePayloadProblem, gatewayIdProblem, type BrokerGrant, type Bundle, type BundlePayload } from '../bundle.ts';
import { signEnvelope, type Envelope } from '../envelope.ts';
import { rawPublicKey } from '../keys.ts';

export interface CommandToSign<P = unknown> {
  cmd: string;
  /** The gateway it is for. */
  gw: string;
  payload: P;
  /** Default: now in ms (strictly increasing per command as long as the platform clock is). */
  version?: number;
  /** Default 10 minutes. */
  ttlMs?: number;
  now?: number;
}

/** A signed command envelope for `{prefix}/{gw}/cmd/{cmd}`. */
export function signCommand<P>(privateKey: KeyObject, c: CommandToSign<P>): Envelope<P> {
  if (!c.cmd || /[+#/]/.test(c.cmd)) throw new Error(`invalid command name ${JSON.stringify(c.cmd)}`);
  const idProblem = gatewayIdProblem(c.gw);
  if (idProblem) throw new Error(idProblem);
  return signEnvelope({ cmd: c.cmd, gw: c.gw, payload: c.payload, version: c.version, ttlMs: c.ttlMs, now: c.now }, privateKey);
}

export interface BundleSpec {
  gw: string;
  site?: string;
  tags?: Record<string, string>;
  broker: BrokerGrant;
  /** Online claims: the gateway key the bundle is for (the gateway refuses it otherwise). */
  gatewayKey?: string;
  /** Default 7 days. */
  ttlMs?: number;
  now?: number;
  /**
   * Key rotation: the new platform public key (raw base64url) the gateway pins from this bundle
   * on; the bundle is still signed with the current (pinned) key. Default: the signing key's.
   */
  nextPlatformKey?: string;
}

export const DEFAULT_BUNDLE_TTL_MS = 7 * 24 * 3600_000;

/** A signed enrollment bundle; it carries the platform public key (pinned by the gateway on first use). */
export function makeBundle(privateKey: KeyObject, spec: BundleSpec): Bundle {
  const idProblem = gatewayIdProblem(spec.gw);
  if (idProblem) throw new Error(idProblem);
  const payload: BundlePayload = {
    ...(spec.site !== undefined ? { site: spec.site } : {}),
    tags: spec.tags ?? {},
    platformKey: spec.nextPlatformKey ?? rawPublicKey(privateKey),
    broker: Object.fromEntries(Object.entries(spec.broker).filter(([, v]) => v !== undefined)) as BrokerGrant,
    ...(spec.gatewayKey !== undefined ? { gatewayKey: spec.gatewayKey } : {}),
  };
  const problem = bundlePayloadProblem(payload);
  if (problem) throw new Error(`bundle: ${problem}`);
  return signEnvelope({ cmd: BUNDLE_CMD, gw: spec.gw, payload, ttlMs: spec.ttlMs ?? DEFAULT_BUNDLE_TTL_MS, now: spec.now }, privateKey);
}
