// Canonical JSON and envelope signatures: the byte form both sides sign is fixed (sorted keys, no
// whitespace), a change anywhere in the envelope or payload breaks the signature, and the
// transport fields an MQTT 3.1.1 platform adds to the body stay outside it.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, envelopeShapeProblem, envelopeSignatureOk, payloadDigest, signEnvelope } from './envelope.ts';
import { fingerprint, publicKeyFromRaw, rawPublicKey } from './keys.ts';

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined, writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    expect(canonicalJson({ é: 1, e: 2, E: 3 })).toBe('{"E":3,"e":2,"é":1}');
    expect(canonicalJson('a"\n')).toBe('"a\\"\\n"');
    expect(canonicalJson(1e21)).toBe('1e+21');
  });
  it('refuses what JSON cannot carry exactly', () => {
    expect(() => canonicalJson({ a: [NaN] })).toThrow(/\$\.a\[0\] is NaN/);
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
  });
});

describe('envelopes', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pub = publicKeyFromRaw(rawPublicKey(privateKey));
  const other = publicKeyFromRaw(rawPublicKey(generateKeyPairSync('ed25519').privateKey));

  it('signs and verifies; any change breaks it', () => {
    const env = signEnvelope({ cmd: 'agent.restart', gw: 'pole-1', payload: { reason: 'x', n: [1, 2] }, now: 1000 }, privateKey);
    expect(env).toMatchObject({ v: 1, cmd: 'agent.restart', gw: 'pole-1', version: 1000, exp: 1000 + 600_000 });
    expect(env.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(env.digest).toBe(payloadDigest({ n: [1, 2], reason: 'x' }));
    expect(envelopeShapeProblem(env as never)).toBeUndefined();
    expect(envelopeSignatureOk(env, pub)).toBe(true);
    // Key order and whitespace do not matter (canonical form); values do.
    expect(envelopeSignatureOk(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(env).reverse()), null, 2)), pub)).toBe(true);
    expect(envelopeSignatureOk(env, other)).toBe(false);
    for (const change of [{ gw: 'pole-2' }, { version: 1001 }, { exp: env.exp + 1 }, { cmd: 'deploy' }, { nonce: '0'.repeat(32) }]) {
      expect(envelopeSignatureOk({ ...env, ...change }, pub)).toBe(false);
    }
    // A changed payload with the old digest, and a changed payload with a recomputed digest: both fail.
    expect(envelopeSignatureOk({ ...env, payload: { reason: 'y', n: [1, 2] } }, pub)).toBe(false);
    const p2 = { reason: 'y' };
    expect(envelopeSignatureOk({ ...env, payload: p2, digest: payloadDigest(p2) }, pub)).toBe(false);
    expect(envelopeSignatureOk({ ...env, sig: 'garbage' }, pub)).toBe(false);
  });

  it('leaves MQTT 3.1.1 transport fields outside the signature', () => {
    const env = signEnvelope({ cmd: 'c', gw: 'g', payload: null }, privateKey);
    const body = { ...env, responseTopic: 'wayside/v1/g/res/1', correlationId: 'r1' };
    expect(envelopeShapeProblem(body)).toBeUndefined();
    expect(envelopeSignatureOk(body, pub)).toBe(true);
    expect(envelopeShapeProblem({ ...env, extra: 1 })).toMatch(/unknown field/);
  });

  it('fingerprints are stable SHA256 of the raw key', () => {
    const raw = rawPublicKey(privateKey);
    expect(fingerprint(raw)).toMatch(/^SHA256:[A-Za-z0-9_-]{43}$/);
    expect(fingerprint(raw)).toBe(fingerprint(rawPublicKey(pub)));
  });
});
