// Frame-level pieces against references: the driver's FRMPayload keystream (node:crypto) against
// lora-packet's decrypt and the tests' own crypto, the counter rules (rollover, replay, gap), the
// structure checks, and the JoinAccept lora-packet builds against the tests' own opener.
import { describe, expect, it } from 'vitest';
import { buildDataUp, buildJoinRequest, cryptPayload, openJoinAccept } from '../../test/support/lora/crypto.ts';
import { createPrng } from '../../runtime/prng.ts';
import { aes128, cryptFrm, joinMicOk, MAX_FCNT_GAP, micOk, micOkLoraPacket, msbBytes, nextFCnt, parsePhy, sessionCrypto } from './frames.ts';
import { cmac } from '../../test/support/lora/crypto.ts';
import loraPacket from './lorapacket.ts';
import { acceptJoin, allocateDevAddr } from './otaa.ts';
import { cmacMic as cmacMicOf } from './frames.ts';

const NWK = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const APP = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

describe('lora frames', () => {
  it('decrypts FRMPayload exactly as lora-packet and the test crypto do, for 16- and 32-bit counters', () => {
    const rnd = createPrng(7);
    for (let i = 0; i < 40; i++) {
      const len = Math.floor(rnd() * 60);
      const payload = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
      const fcnt = Math.floor(rnd() * 2 ** 32) >>> 0;
      const devAddr = Math.floor(rnd() * 2 ** 32) >>> 0;
      const phy = buildDataUp({ devAddr, fcnt, fPort: 1 + (i % 200), payload, nwkSKey: NWK, appSKey: APP });
      const f = parsePhy(phy);
      if ('error' in f || f.kind !== 'data') throw new Error('not parsed');
      const sc = sessionCrypto(NWK, APP);
      expect(cryptFrm(sc.app, 0, devAddr, fcnt, f.frmPayload).equals(payload)).toBe(true);
      if (len > 0) expect(loraPacket.decrypt(loraPacket.fromWire(phy), APP, NWK, msbBytes(fcnt, 32)).equals(payload)).toBe(true);
      expect(micOk(f, sc, fcnt, 32)).toBe(true);
      expect(micOkLoraPacket(f, NWK, fcnt, 32)).toBe(true);
      expect(micOk(f, sc, (fcnt + 0x10000) >>> 0, 32)).toBe(false);
      expect(micOkLoraPacket(f, NWK, (fcnt + 0x10000) >>> 0, 32)).toBe(false);
      expect(micOk(f, sessionCrypto(APP, APP), fcnt, 32)).toBe(false);
      expect(cryptFrm(aes128(APP), 1, devAddr, fcnt, payload).equals(cryptPayload(APP, 1, devAddr, fcnt, payload))).toBe(true);
    }
  });

  it('computes AES-CMAC as RFC 4493 (its test vectors) with its cached cipher', () => {
    const k = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const m = Buffer.from('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710', 'hex');
    const mic = cmacMicOf(k);
    for (const [len, tag] of [[0, 'bb1d6929'], [16, '070a16b4'], [40, 'dfa66747'], [64, '51f0bebf']] as const) {
      expect(mic(m.subarray(0, len)).toString('hex')).toBe(tag);
      expect(cmac(k, m.subarray(0, len)).subarray(0, 4).toString('hex')).toBe(tag);
    }
    const rnd = createPrng(3);
    for (let i = 0; i < 30; i++) {
      const msg = Buffer.from(Array.from({ length: Math.floor(rnd() * 70) }, () => Math.floor(rnd() * 256)));
      expect(mic(msg).equals(cmac(k, msg).subarray(0, 4))).toBe(true);
    }
  });

  it('extends 16-bit counters across rollovers and refuses replays and gaps', () => {
    expect(nextFCnt(undefined, 7)).toEqual({ full: 7 });
    expect(nextFCnt(7, 8)).toEqual({ full: 8 });
    expect(nextFCnt(65535, 0)).toEqual({ full: 65536 });
    expect(nextFCnt(65536 + 65535, 3)).toEqual({ full: 2 * 65536 + 3 });
    expect(nextFCnt(8, 8)).toEqual({ error: 'replay' });
    expect(nextFCnt(8, 7)).toEqual({ error: 'replay' });
    expect(nextFCnt(3, 65530)).toEqual({ error: 'replay' }); // behind across the wrap
    expect(nextFCnt(0, MAX_FCNT_GAP)).toEqual({ full: MAX_FCNT_GAP });
    expect(nextFCnt(0, MAX_FCNT_GAP + 1)).toEqual({ error: 'fcnt_gap' });
  });

  it('checks structure before trusting a length byte', () => {
    const good = buildDataUp({ devAddr: 1, fcnt: 1, fPort: 1, payload: Buffer.from('ab', 'hex'), nwkSKey: NWK, appSKey: APP });
    expect(parsePhy(good)).toMatchObject({ kind: 'data', devAddr: 1, fcnt16: 1, fPort: 1, confirmed: false });
    expect(parsePhy(Buffer.alloc(0))).toEqual({ error: 'malformed_frame' });
    expect(parsePhy(good.subarray(0, 11))).toEqual({ error: 'malformed_frame' });
    const badOpts = Buffer.from(good);
    badOpts[5] = 0x0f;
    expect(parsePhy(badOpts)).toEqual({ error: 'malformed_frame' });
    expect(parsePhy(Buffer.from([0x60, 1, 2, 3, 4, 0, 0, 0, 1, 2, 3, 4]))).toEqual({ error: 'not_uplink' });
    expect(parsePhy(Buffer.from([0x41, 1, 2, 3, 4, 0, 0, 0, 1, 2, 3, 4]))).toEqual({ error: 'malformed_frame' }); // Major 1
    const noPort = buildDataUp({ devAddr: 1, fcnt: 2, nwkSKey: NWK, appSKey: APP });
    expect(parsePhy(noPort)).toMatchObject({ kind: 'data', frmPayload: Buffer.alloc(0) });
    expect((parsePhy(noPort) as { fPort?: number }).fPort).toBeUndefined();
    const jr = buildJoinRequest({ appEui: '0102030405060708', devEui: '1112131415161718', devNonce: 0xbeef, appKey: APP });
    const j = parsePhy(jr);
    expect(j).toMatchObject({ kind: 'join', appEui: '0102030405060708', devEui: '1112131415161718', devNonce: 0xbeef });
    expect(joinMicOk(j as never, APP)).toBe(true);
    expect(joinMicOk(j as never, NWK)).toBe(false);
  });

  it('builds JoinAccepts the test opens, with the session keys the test derives', () => {
    const r = acceptJoin({ appKey: APP, netId: Buffer.from('000001', 'hex'), devAddr: 0x02abcdef, devNonce: 0x1234, appNonce: Buffer.from('a1b2c3', 'hex') });
    const ja = openJoinAccept(r.phy, APP, 0x1234);
    expect(ja).toMatchObject({ micOk: true, devAddr: 0x02abcdef, dlSettings: 0, rxDelay: 1 });
    expect(ja.appNonce.toString('hex')).toBe('c3b2a1');
    expect(ja.nwkSKey.equals(r.session.nwkSKey)).toBe(true);
    expect(ja.appSKey.equals(r.session.appSKey)).toBe(true);
    const used = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const a = allocateDevAddr(Buffer.from('000001', 'hex'), (x) => used.has(x));
      expect(a >>> 25).toBe(1);
      expect(used.has(a)).toBe(false);
      used.add(a);
    }
  });
});
