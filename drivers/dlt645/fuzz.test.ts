// Randomized tests of the decoder with a fixed seed (reproducible): valid frames buried in
// noise and cut at random points are all recovered in order; random bytes and mutated frames
// never make it throw anything but a FrameError; values round-trip through the DI table.
import { describe, expect, it } from 'vitest';
import { FrameError, createFrameParser, decodeFrame, encodeFrame, type Frame } from './codec.ts';
import { DLT645_POINTS, decodeValue, encodeValue } from './points.ts';
import { createPrng } from '../../runtime/prng.ts';

/** A seeded PRNG so a failure replays exactly. */
function prng(seed: number) {
  const next = createPrng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, bytes };
}

const SEED = 0x645;

function randomFrame(r: ReturnType<typeof prng>): Frame {
  const address = Array.from({ length: 12 }, () => r.int(10)).join('');
  return { address, control: 0x80 | r.int(0x60), data: r.bytes(r.int(24)) };
}

describe('decoder fuzz (seed 0x645)', () => {
  it('recovers every frame, in order, from noisy streams split at random points', () => {
    const r = prng(SEED);
    for (let round = 0; round < 300; round++) {
      const sent: Frame[] = [];
      const parts: Buffer[] = [];
      for (let i = 0; i < 1 + r.int(6); i++) {
        if (r.next() < 0.7) parts.push(r.bytes(r.int(40))); // noise, may contain 68 and 16
        const f = randomFrame(r);
        sent.push(f);
        parts.push(encodeFrame(f, { preamble: r.int(5) }));
      }
      const stream = Buffer.concat(parts);
      const p = createFrameParser();
      const got: Frame[] = [];
      for (let at = 0; at < stream.length;) {
        const n = 1 + r.int(32);
        for (const ev of p.push(stream.subarray(at, at + n))) if (ev.type === 'frame') got.push(ev.frame);
        at += n;
      }
      // Every sent frame comes out in order; noise may, very rarely, form an extra valid frame.
      let j = 0;
      for (const f of got) if (j < sent.length && JSON.stringify(f) === JSON.stringify(sent[j])) j++;
      expect(j, `round ${round}`).toBe(sent.length);
      expect(p.pending()).toBeLessThanOrEqual(212);
    }
  });

  it('survives pure noise with bounded memory', () => {
    const r = prng(SEED + 1);
    const p = createFrameParser();
    let garbage = 0;
    for (let i = 0; i < 2000; i++) {
      for (const ev of p.push(r.bytes(1 + r.int(64)))) if (ev.type === 'garbage') garbage += ev.bytes;
      expect(p.pending()).toBeLessThanOrEqual(212);
    }
    expect(garbage).toBeGreaterThan(30_000);
  });

  it('turns every single-byte mutation of a frame into a FrameError', () => {
    const r = prng(SEED + 2);
    for (let i = 0; i < 3000; i++) {
      const good = encodeFrame(randomFrame(r), { preamble: r.int(3) });
      const bad = Buffer.from(good);
      const at = r.int(bad.length);
      bad[at] = (bad[at] + 1 + r.int(255)) & 0xff;
      let err: unknown;
      try {
        decodeFrame(bad);
      } catch (e) {
        err = e;
      }
      expect(err, `mutation at ${at} of ${good.toString('hex')}`).toBeInstanceOf(FrameError);
    }
  });

  it('round-trips random values of every point', () => {
    const r = prng(SEED + 3);
    for (const def of DLT645_POINTS) {
      const digits = def.bytes * 2 - (def.signed ? 1 : 0); // signed: the top digit shares its byte with the sign bit
      for (let i = 0; i < 200; i++) {
        let n = 0;
        for (let d = 0; d < digits; d++) n = n * 10 + r.int(10);
        const v = (def.signed && r.next() < 0.5 ? -1 : 1) * (n / 10 ** def.decimals);
        expect(decodeValue(def, encodeValue(def, v))).toBe(Number(v.toFixed(def.decimals)) || 0);
      }
    }
  });
});
