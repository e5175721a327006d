// The verifier against every envelope attack the brief lists, with the real lowdb store on disk:
// each is refused with its code, raises one audit.refused with the reason, and the wrapped
// handler never runs; the accepted one raises audit.accepted and is recorded durably (a new
// store over the same directory still refuses its replay).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { stateDir } from '../runtime/state.ts';
import { signEnvelope, type Envelope } from './envelope.ts';
import { ProvisioningError } from './errors.ts';
import { fingerprint, rawPublicKey } from './keys.ts';
import { openStore, type ProvisioningStore } from './store.ts';
import { createVerifier, type AuditEvent, type VerifyLimits } from './verify.ts';

const platform = generateKeyPairSync('ed25519').privateKey;
const intruder = generateKeyPairSync('ed25519').privateKey;
const GW = 'pole-7';
const limits: VerifyLimits = { maxEnvelopeBytes: 64 * 1024, clockSkewMs: 30_000, maxTtlMs: 3600_000 };

let dir: string;
let store: ProvisioningStore;
let now: number;
let events: AuditEvent[];
let ran: unknown[];

function enroll(s: ProvisioningStore) {
  const platformKey = rawPublicKey(platform);
  s.saveIdentity({
    v: 1, gatewayId: GW, tags: {}, platformKey, platformKeyFingerprint: fingerprint(platformKey), publicKey: platformKey,
    broker: { url: 'mqtt://127.0.0.1:1' }, enrolledAt: 0, bundleVersion: 1, method: 'offline',
  });
}

function verifier(s = store) {
  return createVerifier({ store: s, gatewayId: () => GW, limits: () => limits, clock: { now: () => now, mono: () => now, trusted: () => true }, audit: (e) => events.push(e) });
}

const sign = (over: Partial<Parameters<typeof signEnvelope>[0]> = {}, key = platform): Envelope =>
  signEnvelope({ cmd: 'agent.restart', gw: GW, payload: { reason: 'test' }, now, ...over }, key);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wayside-verify-'));
  store = openStore(stateDir(join(dir, 'provisioning')));
  enroll(store);
  now = 1_800_000_000_000;
  events = [];
  ran = [];
});

async function run(request: unknown, name = 'agent.restart') {
  const handler = verifier().verifyThen(async (payload) => {
    ran.push(payload);
    return { done: true };
  });
  try {
    return { ok: true as const, result: await handler(request, { name }) };
  } catch (err) {
    expect(err).toBeInstanceOf(ProvisioningError);
    return { ok: false as const, code: (err as ProvisioningError).code, message: (err as Error).message };
  }
}

describe('verifyThen', () => {
  it('runs the handler for a good envelope, once', async () => {
    const env = sign();
    expect(await run(env)).toEqual({ ok: true, result: { done: true } });
    expect(ran).toEqual([{ reason: 'test' }]);
    expect(events).toEqual([{ type: 'audit.accepted', data: { cmd: 'agent.restart', nonce: env.nonce, version: env.version, digest: env.digest } }]);
    // Accepted state is on disk, 0600, and a fresh store (agent restart) still knows the nonce.
    expect(statSync(join(dir, 'provisioning', 'replay.json')).mode & 0o777).toBe(0o600);
    const again = createVerifier({ store: openStore(stateDir(join(dir, 'provisioning'))), gatewayId: () => GW, limits: () => limits, clock: { now: () => now, mono: () => now, trusted: () => true }, audit: (e) => events.push(e) });
    expect(again.check(env, 'agent.restart')).toMatchObject({ ok: false, code: 'replayed' });
  });

  const attacks: [string, () => unknown, string, RegExp, string?][] = [
    ['unsigned (a bare payload)', () => ({ reason: 'test' }), 'unsigned', /needs a signed envelope/],
    ['unsigned (sig removed)', () => { const { sig: _s, ...e } = sign(); return e; }, 'unsigned', /signed envelope/],
    ['signed by another key', () => sign({}, intruder), 'bad_signature', /pinned platform key SHA256:/],
    ['payload swapped after signing', () => ({ ...sign(), payload: { reason: 'evil' } }), 'bad_signature', /digest/],
    ['expired', () => sign({ exp: now - 31_000 }), 'expired', /expired at/],
    ['for another gateway', () => sign({ gw: 'pole-8' }), 'wrong_gateway', /for gateway "pole-8", this is "pole-7"/],
    ['signed for another command', () => sign({ cmd: 'deploy.flows' }), 'wrong_command', /signed for command "deploy.flows"/],
    ['truncated JSON', () => JSON.stringify(sign()).slice(0, 100), 'bad_request', /not JSON/],
    ['malformed envelope', () => ({ ...sign(), nonce: 'short' }), 'bad_request', /nonce/],
    ['10 MB', () => Buffer.from(JSON.stringify({ ...sign(), payload: 'x'.repeat(10 * 1024 * 1024) })), 'too_large', /1048\d{4} bytes, the limit is 65536/],
    ['10 MB, parsed', () => ({ ...sign(), payload: 'x'.repeat(10 * 1024 * 1024) }), 'too_large', /the limit is 65536/],
    ['exp too far ahead', () => sign({ exp: now + 48 * 3600_000 }), 'bad_request', /more than the 3600000 ms allowed/],
  ];
  for (const [what, make, code, reason] of attacks) {
    it(`refuses ${what}: ${code}, audited, handler not run`, async () => {
      const r = await run(make());
      expect(r).toMatchObject({ ok: false, code });
      expect(r.ok === false && r.message).toMatch(reason);
      expect(ran).toEqual([]);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'audit.refused', data: { cmd: 'agent.restart', code } });
      expect((events[0].data as { reason: string }).reason).toMatch(reason);
    });
  }

  it('accepts within the clock skew', async () => {
    expect(await run(sign({ exp: now - 29_000 }))).toMatchObject({ ok: true });
  });

  it('refuses a replayed nonce and a stale version', async () => {
    const first = sign({ version: 10 });
    expect(await run(first)).toMatchObject({ ok: true });
    expect(await run(first)).toMatchObject({ ok: false, code: 'replayed' });
    expect(await run(sign({ version: 10 }))).toMatchObject({ ok: false, code: 'stale_version', message: expect.stringMatching(/version 10 is not newer than 10/) });
    expect(await run(sign({ version: 9 }))).toMatchObject({ ok: false, code: 'stale_version' });
    expect(await run(sign({ version: 11 }))).toMatchObject({ ok: true });
    expect(ran).toHaveLength(2);
    expect(events.map((e) => (e.type === 'audit.refused' ? e.data.code : 'accepted'))).toEqual(['accepted', 'replayed', 'stale_version', 'stale_version', 'accepted']);
    expect(events[1].data).toMatchObject({ nonce: first.nonce, version: 10 });
    // Versions are per command kind.
    expect(verifier().check(sign({ cmd: 'deploy.flows', version: 1 }), 'deploy.flows')).toMatchObject({ ok: true });
  });

  it('forgets nonces once expired (bounded state) but the version still refuses a late replay', async () => {
    const env = sign({ version: 5 });
    expect(await run(env)).toMatchObject({ ok: true });
    now += 3 * 3600_000;
    expect(await run(sign({ version: 6 }))).toMatchObject({ ok: true });
    expect(Object.keys(store.replay.versions())).toEqual(['agent.restart']);
    expect(store.replay.seen(env.nonce, now)).toBe(false);
    expect(verifier().check({ ...env }, 'agent.restart')).toMatchObject({ ok: false, code: 'expired' });
  });

  it('refuses everything signed before enrollment: not_enrolled', async () => {
    const fresh = openStore(stateDir(join(dir, 'other')));
    const v = verifier(fresh);
    expect(v.check(sign(), 'agent.restart')).toMatchObject({ ok: false, code: 'not_enrolled' });
  });

  it('rate-limits audit events per code and counts the rest', () => {
    const v = verifier();
    for (let i = 0; i < 25; i++) v.check({ x: i }, 'agent.restart');
    expect(events).toHaveLength(20);
    expect(v.stats().refused).toEqual({ unsigned: 25 });
    now += 61_000;
    v.check({ x: 1 }, 'agent.restart');
    expect(events.at(-1)!.data).toMatchObject({ code: 'unsigned', suppressed: 5 });
  });
});
