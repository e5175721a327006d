// Enrollment end to end: offline with a bundle file made by `wayside-fleet claim --offline`,
// online with a claim code against the claim service over a real mosquitto confined by the
// generated ACL; then the gateway connects with the credentials it was given. Re-provisioning
// needs the pinned key's signature and a newer bundle; key rotation goes through a bundle signed
// by the old key. Identity files are 0600 in a 0700 directory.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateDir } from '../runtime/state.ts';
import { CLAIM_PASS, CLAIM_USER, connectAs, PLATFORM_PASS, PLATFORM_USER, startAclBroker, type AclBroker } from '../test/support/provisioning/broker.ts';
import { provisionCli } from './cli.ts';
import { applyBundle, ClaimRefused, enrollOnline } from './enroll.ts';
import { startClaimService, type ClaimService } from './fleet/claim.ts';
import { fleetCli } from './fleet/cli.ts';
import { generatePlatformKey, loadPlatformKey } from './fleet/keys.ts';
import { makeBundle } from './fleet/sign.ts';
import { fingerprint } from './keys.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wayside-enroll-'));
const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
};
const mode = (p: string) => statSync(p).mode & 0o777;

describe('offline enrollment', () => {
  it('bundle from wayside-fleet, applied by wayside provision; re-provisioning rules', async () => {
    const dir = tmp();
    const keyFile = join(dir, 'fleet', 'platform.key');
    const f = io();
    expect(await fleetCli(['keygen', '--out', keyFile], f.io)).toBe(0);
    expect(mode(keyFile)).toBe(0o600);
    expect(mode(join(dir, 'fleet'))).toBe(0o700);
    const bundleFile = join(dir, 'bundle.json');
    expect(await fleetCli(['claim', '--offline', '--key', keyFile, '--gw', 'pole-0042', '--site', 'Main St 12', '--tag', 'zone=north', '--tag', 'lamp=led',
      '--broker', 'mqtts://platform.example:8883', '--user', 'pole-0042', '--pass', 'pw-0042', '--out', bundleFile], f.io)).toBe(0);
    expect(mode(bundleFile)).toBe(0o600);

    const state = join(dir, 'state');
    const g = io();
    expect(await provisionCli(['--file', bundleFile, '--state', state], g.io)).toBe(0);
    const prov = join(state, 'provisioning');
    expect(mode(state)).toBe(0o700);
    expect(mode(prov)).toBe(0o700);
    for (const file of ['identity.json', 'gateway.key', 'broker-password', 'uplink.yaml']) expect(mode(join(prov, file))).toBe(0o600);
    const id = JSON.parse(readFileSync(join(prov, 'identity.json'), 'utf8'));
    const platform = loadPlatformKey(keyFile);
    expect(id).toMatchObject({ v: 1, gatewayId: 'pole-0042', site: 'Main St 12', tags: { zone: 'north', lamp: 'led' }, platformKey: platform.publicKey, platformKeyFingerprint: platform.fingerprint, method: 'offline' });
    expect(readFileSync(join(prov, 'gateway.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(join(prov, 'broker-password'), 'utf8')).toBe('pw-0042');
    const fragment = parse(readFileSync(join(prov, 'uplink.yaml'), 'utf8'));
    expect(fragment).toEqual({ gateway: { id: 'pole-0042', site: 'Main St 12' }, uplink: { url: 'mqtts://platform.example:8883', username: 'pole-0042', password: { file: join(prov, 'broker-password') } } });
    expect(g.out.join('')).toContain(`platform key ${platform.fingerprint} pinned`);
    expect(g.out.join('')).not.toContain('pw-0042');

    // The same bundle again: not newer.
    const again = io();
    expect(await provisionCli(['--file', bundleFile, '--state', state], again.io)).toBe(1);
    expect(again.err.join('')).toMatch(/refused \(stale_version\)/);

    // A bundle signed by another platform key (trusting the key it carries) is refused: the key is pinned.
    const rogue = generatePlatformKey(join(dir, 'rogue.key'));
    const rogueBundle = makeBundle(rogue.privateKey, { gw: 'pole-0042', broker: { url: 'mqtt://evil:1883', username: 'x', password: 'y' }, now: Date.now() + 10 });
    writeFileSync(join(dir, 'rogue.json'), JSON.stringify(rogueBundle));
    const r = io();
    expect(await provisionCli(['--file', join(dir, 'rogue.json'), '--state', state], r.io)).toBe(1);
    expect(r.err.join('')).toMatch(/refused \(bad_signature\): bundle is not signed by the pinned platform key SHA256:/);
    expect(JSON.parse(readFileSync(join(prov, 'identity.json'), 'utf8')).broker.url).toBe('mqtts://platform.example:8883');

    // Key rotation: a newer bundle signed by the pinned key carrying the next key; then only the next key counts.
    const next = generatePlatformKey(join(dir, 'next.key'));
    const rotate = makeBundle(platform.privateKey, { gw: 'pole-0042', broker: { url: 'mqtt://new:1883', username: 'pole-0042', password: 'pw2' }, nextPlatformKey: next.publicKey, now: Date.now() + 20 });
    const res = applyBundle(stateDir(prov), rotate, { method: 'offline' });
    expect(res.reprovisioned).toBe(true);
    expect(res.identity.platformKeyFingerprint).toBe(fingerprint(next.publicKey));
    const byOld = makeBundle(platform.privateKey, { gw: 'pole-0042', broker: { url: 'mqtt://old:1883', username: 'a', password: 'b' }, now: Date.now() + 30 });
    expect(() => applyBundle(stateDir(prov), byOld, { method: 'offline' })).toThrow(expect.objectContaining({ code: 'bad_signature' }));
    const byNext = makeBundle(next.privateKey, { gw: 'pole-0042', broker: { url: 'mqtt://new2:1883', username: 'a', password: 'b' }, now: Date.now() + 40 });
    expect(applyBundle(stateDir(prov), byNext, { method: 'offline' }).identity.broker.url).toBe('mqtt://new2:1883');
  });

  it('refuses expired, tampered, unsigned and foreign-key bundles on first enrollment', () => {
    const dir = tmp();
    const k = generatePlatformKey(join(dir, 'p.key'));
    const fresh = () => stateDir(join(tmp(), 'provisioning'));
    const good = makeBundle(k.privateKey, { gw: 'pole-1', broker: { url: 'mqtt://h:1883', username: 'pole-1', password: 'p' } });
    expect(() => applyBundle(fresh(), makeBundle(k.privateKey, { gw: 'pole-1', broker: good.payload.broker, ttlMs: 1000, now: Date.now() - 3600_000 }), { method: 'offline' })).toThrow(expect.objectContaining({ code: 'expired' }));
    expect(() => applyBundle(fresh(), { ...good, payload: { ...good.payload, broker: { ...good.payload.broker, url: 'mqtt://evil:1' } } }, { method: 'offline' })).toThrow(expect.objectContaining({ code: 'bad_signature' }));
    const { sig: _s, ...unsigned } = good;
    expect(() => applyBundle(fresh(), unsigned, { method: 'offline' })).toThrow(expect.objectContaining({ code: 'unsigned' }));
    const otherGw = makeBundle(k.privateKey, { gw: 'pole-1', broker: good.payload.broker, gatewayKey: 'A'.repeat(43) });
    expect(() => applyBundle(fresh(), otherGw, { method: 'offline' })).toThrow(expect.objectContaining({ code: 'wrong_gateway' }));
    expect(applyBundle(fresh(), good, { method: 'offline' }).identity.gatewayId).toBe('pole-1');
  });
});

describe('online enrollment (claim code over a real mosquitto with the generated ACL)', () => {
  let broker: AclBroker;
  let svc: ClaimService;
  let platformKey: ReturnType<typeof loadPlatformKey>;
  const dir = tmp();
  const outcomes: string[] = [];
  beforeAll(async () => {
    broker = await startAclBroker([], { 'pole-9': 'pole-9-pw', 'pole-10': 'pole-10-pw' });
    generatePlatformKey(join(dir, 'platform.key'));
    platformKey = loadPlatformKey(join(dir, 'platform.key'));
    svc = await startClaimService({
      url: broker.url,
      mqtt: { username: PLATFORM_USER, password: PLATFORM_PASS },
      platformKey: platformKey.privateKey,
      claims: [
        { code: 'abcde-fghij-klmno', gw: 'pole-9', expires: Date.now() + 3600_000, tags: { owner: 'city' }, username: 'pole-9', password: 'pole-9-pw' },
        { code: 'old-code', gw: 'pole-10', expires: new Date(Date.now() - 1000).toISOString(), password: 'pole-10-pw' },
      ],
      usedFile: join(dir, 'used.json'),
      onRequest: (r) => outcomes.push(`${r.gw ?? '?'} ${r.outcome}`),
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await broker?.destroy();
  });

  it('trades a claim code for a sealed bundle, then connects as the gateway; the code is single use', async () => {
    const state = join(tmp(), 'state');
    const g = io();
    const code = await provisionCli(['--platform', broker.url, '--claim', 'abcde-fghij-klmno', '--site', 'Depot 3', '--tag', 'zone=south',
      '--claim-user', CLAIM_USER, '--claim-pass', CLAIM_PASS, '--state', state, '--timeout', '10s'], g.io);
    expect(g.err.join('')).toBe('');
    expect(code).toBe(0);
    const prov = join(state, 'provisioning');
    const id = JSON.parse(readFileSync(join(prov, 'identity.json'), 'utf8'));
    expect(id).toMatchObject({ gatewayId: 'pole-9', site: 'Depot 3', tags: { zone: 'south', owner: 'city' }, platformKey: platformKey.publicKey, method: 'online' });
    expect(mode(join(prov, 'broker-password'))).toBe(0o600);
    const used = JSON.parse(readFileSync(join(dir, 'used.json'), 'utf8'));
    expect(used.used['abcde-fghij-klmno']).toMatchObject({ gw: 'pole-9', publicKey: id.publicKey });
    expect(mode(join(dir, 'used.json'))).toBe(0o600);

    // The fragment's credentials work against the broker, and the ACL confines them to pole-9.
    const frag = parse(readFileSync(join(prov, 'uplink.yaml'), 'utf8'));
    const gw = await connectAs(frag.uplink.url, frag.uplink.username, readFileSync(frag.uplink.password.file, 'utf8'));
    await expect(gw.publishAsync('wayside/v1/pole-9/state', 'hello', { qos: 1 })).resolves.toBeDefined();
    await expect(gw.publishAsync('wayside/v1/pole-10/state', 'forged', { qos: 1 })).rejects.toMatchObject({ code: 135 });
    await gw.endAsync(true);

    // Another gateway key (a second pole, or someone who overheard the code) gets claim_used.
    const again = await enrollOnline(stateDir(join(tmp(), 'x', 'provisioning')), { url: broker.url, claim: 'abcde-fghij-klmno', username: CLAIM_USER, password: CLAIM_PASS, timeoutMs: 10_000 }).catch((e) => e);
    expect(again).toBeInstanceOf(ClaimRefused);
    expect(again.code).toBe('claim_used');
    expect(outcomes).toEqual(['pole-9 issued', 'pole-9 claim_used']);
  });

  it('refuses unknown and expired codes', async () => {
    const ask = (claim: string) => enrollOnline(stateDir(join(tmp(), 'provisioning')), { url: broker.url, claim, username: CLAIM_USER, password: CLAIM_PASS, timeoutMs: 10_000 }).catch((e) => e);
    expect(await ask('no-such-code')).toMatchObject({ code: 'unknown_claim' });
    expect(await ask('old-code')).toMatchObject({ code: 'claim_expired' });
  });
});
