// The A-weighting design (models/aweight.ts) against IEC 61672-1:2013 Table 3, and the FFT
// (models/fft.ts) against a plain DFT. The end-to-end checks with real ffmpeg signals are in
// models/audio.test.ts.
import { describe, expect, test } from 'vitest';
import { A_POLES_HZ, aWeightingDb, aWeightingResponseDb, createAWeighting } from './aweight.ts';
import { createFft } from './fft.ts';

// IEC 61672-1:2013 Table 3: A-weighting (dB) and the class 1 / class 2 acceptance limits
// [+, −] at the nominal frequencies used here (−Infinity = no lower limit).
const IEC_TABLE: [f: number, a: number, class1: [number, number], class2: [number, number]][] = [
  [20, -50.5, [2.5, 2.5], [3.5, 3.5]],
  [31.5, -39.4, [2.0, 2.0], [3.5, 3.5]],
  [63, -26.2, [1.5, 1.5], [2.5, 2.5]],
  [100, -19.1, [1.0, 1.0], [2.0, 2.0]],
  [250, -8.6, [1.0, 1.0], [1.9, 1.9]],
  [500, -3.2, [1.0, 1.0], [1.9, 1.9]],
  [1000, 0, [0.7, 0.7], [1.0, 1.0]],
  [2000, 1.2, [1.0, 1.0], [2.6, 2.6]],
  [3150, 1.2, [1.0, 1.0], [3.0, 3.0]],
  [4000, 1.0, [1.0, 1.0], [3.5, 3.5]],
  [5000, 0.5, [1.5, 1.5], [4.5, 4.5]],
  [6300, -0.1, [1.5, 2.0], [5.0, 5.0]],
  [8000, -1.1, [1.5, 2.5], [5.0, 5.0]],
  [10000, -2.5, [2.0, 3.0], [5.0, Infinity]],
  [12500, -4.3, [2.0, 5.0], [5.0, Infinity]],
  [16000, -6.6, [2.5, 16.0], [5.0, Infinity]],
];
const row = (f: number) => IEC_TABLE.find((r) => r[0] === f)!;
/** The table's nominal frequencies stand for the exact base-ten ones, 1 kHz·10^(n/10). */
const exact = (f: number): number => 1000 * 10 ** (Math.round(10 * Math.log10(f / 1000)) / 10);

describe('A-weighting (IEC 61672-1)', () => {
  test('pole frequencies from the Annex E design constants', () => {
    expect(A_POLES_HZ.f1).toBeCloseTo(20.598997, 5);
    expect(A_POLES_HZ.f2).toBeCloseTo(107.65265, 4);
    expect(A_POLES_HZ.f3).toBeCloseTo(737.86223, 4);
    expect(A_POLES_HZ.f4).toBeCloseTo(12194.217, 2);
  });

  test('the analogue curve reproduces Table 3 (rounded to 0.1 dB)', () => {
    for (const [f, a] of IEC_TABLE) expect(Math.abs(aWeightingDb(exact(f)) - a), `${f} Hz`).toBeLessThanOrEqual(0.1);
  });

  test('48 kHz and 44.1 kHz: within 0.5 dB at 100 Hz, 1 kHz, 4 kHz, 10 kHz (and up to 12.5 kHz)', () => {
    for (const fs of [48000, 44100]) {
      for (const f of [100, 1000, 4000, 10000]) {
        expect(Math.abs(aWeightingResponseDb(fs, exact(f)) - row(f)[1]), `${fs} Hz, ${f} Hz`).toBeLessThanOrEqual(0.5);
      }
      for (const [f, a] of IEC_TABLE.filter((r) => r[0] <= 12500)) {
        expect(Math.abs(aWeightingResponseDb(fs, exact(f)) - a), `${fs} Hz, ${f} Hz`).toBeLessThanOrEqual(0.2);
      }
    }
  });

  test('lower rates: within 0.5 dB up to fs/4, within class 1 (and so class 2) limits up to 0.4·fs', () => {
    for (const fs of [32000, 22050, 16000, 11025, 8000]) {
      for (const [f, a, [plus, minus]] of IEC_TABLE) {
        if (f > 0.4 * fs) continue;
        const err = aWeightingResponseDb(fs, exact(f)) - a;
        if (f <= 0.25 * fs) expect(Math.abs(err), `${fs} Hz, ${f} Hz`).toBeLessThanOrEqual(0.5);
        expect(err, `${fs} Hz, ${f} Hz`).toBeLessThanOrEqual(plus);
        expect(err, `${fs} Hz, ${f} Hz`).toBeGreaterThanOrEqual(-minus);
      }
    }
  });

  test('the running filter has the designed gain on a steady sine (state carried across blocks)', () => {
    const fs = 16000;
    for (const [f, a] of [[100, -19.1], [1000, 0], [4000, 1.0]] as const) {
      const filter = createAWeighting(fs);
      const n = fs * 2;
      const buf = new Float64Array(n);
      for (let i = 0; i < n; i++) buf[i] = Math.sin((2 * Math.PI * f * i) / fs);
      for (let i = 0; i < n; i += 333) filter.process(buf.subarray(i), Math.min(333, n - i));
      let e = 0;
      for (let i = fs; i < n; i++) e += buf[i] * buf[i]; // the second second: past the start-up transient
      const db = 10 * Math.log10(e / fs / 0.5);
      expect(Math.abs(db - a), `${f} Hz`).toBeLessThanOrEqual(0.5);
    }
  });
});

describe('fft', () => {
  test('matches a plain DFT and keeps Parseval', () => {
    for (const n of [8, 64, 1024]) {
      const fft = createFft(n);
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13 - 0.5);
      const re = Float64Array.from(x);
      const im = new Float64Array(n);
      fft.transform(re, im);
      let ex = 0, eX = 0;
      for (let k = 0; k < n; k++) {
        let dr = 0, di = 0;
        for (let t = 0; t < n; t++) {
          dr += x[t] * Math.cos((2 * Math.PI * k * t) / n);
          di -= x[t] * Math.sin((2 * Math.PI * k * t) / n);
        }
        expect(re[k]).toBeCloseTo(dr, 8);
        expect(im[k]).toBeCloseTo(di, 8);
        eX += re[k] * re[k] + im[k] * im[k];
      }
      for (const v of x) ex += v * v;
      expect(eX / n).toBeCloseTo(ex, 8);
    }
  });

  test('refuses sizes that are not powers of two and arrays of the wrong size', () => {
    expect(() => createFft(1000)).toThrow(/power of two/);
    expect(() => createFft(8).transform(new Float64Array(8), new Float64Array(4))).toThrow(/8-point/);
  });
});
