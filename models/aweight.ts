// A-frequency-weighting for the sound analyzer (models/audio.ts): the analogue weighting of
// IEC 61672-1:2013 (Annex E) turned into a digital IIR filter for a given sample rate, and the
// analogue curve itself (used to weight FFT bins).
//
// The analogue A-weighting is
//   A(s) = k · s⁴ / ((s + ω1)² · (s + ω2) · (s + ω3) · (s + ω4)²),   ωi = 2π·fi
// with the pole frequencies of IEC 61672-1 Annex E (equations E.1–E.7, computed below from the
// standard's design constants: fr = 1 kHz, fL = 10^1.5 Hz, fH = 10^3.9 Hz, D = √½, fA = 10^2.45 Hz):
//   f1 ≈ 20.598997 Hz, f2 ≈ 107.65265 Hz, f3 ≈ 737.86223 Hz, f4 ≈ 12194.217 Hz,
// normalized to 0 dB at 1 kHz (the standard's A1000 = −2.000 dB constant does exactly that).
//
// Digital design, three biquads (direct form II transposed, float64):
//  1. zeros at DC (s⁴ → four zeros at z = 1) with the double pole f1, and
//  2. the poles f2, f3: both by the bilinear transform (s = 2·fs·(z−1)/(z+1)); these poles are far
//     below Nyquist, so the bilinear warping is negligible there.
//  3. the double pole f4 (a critically damped low-pass near or above Nyquist). The bilinear
//     transform would put two zeros at Nyquist and cost −1.2 dB at 10 kHz for 48 kHz; instead
//     the poles are matched (impulse invariance, z = e^(−ω4/fs)) and the numerator (b0 + b1·z⁻¹)
//     is chosen to match the analogue magnitude at DC and Nyquist, or, when f4 is below Nyquist
//     (fs ≳ 27 kHz), at DC, f4 and Nyquist (M. Vicanek, "Matched second order digital filters",
//     2016). Result (see models/aweight.test.ts): within 0.1 dB of the standard's table up to
//     12.5 kHz at 48/44.1 kHz, within 0.5 dB up to fs/4 at 8–32 kHz, within class 1 limits
//     up to 0.4·fs at 8–16 kHz.

const FR = 1000;
const FL = 10 ** 1.5;
const FH = 10 ** 3.9;
const D = Math.SQRT1_2;
const FA = 10 ** 2.45;
const B = (1 / (1 - D)) * (FR * FR + (FL * FL * FH * FH) / (FR * FR) - D * (FL * FL + FH * FH));
const C = FL * FL * FH * FH;

/** The A-weighting pole frequencies of IEC 61672-1:2013 Annex E, Hz. */
export const A_POLES_HZ = {
  f1: Math.sqrt((-B - Math.sqrt(B * B - 4 * C)) / 2),
  f2: ((3 - Math.sqrt(5)) / 2) * FA,
  f3: ((3 + Math.sqrt(5)) / 2) * FA,
  f4: Math.sqrt((-B + Math.sqrt(B * B - 4 * C)) / 2),
} as const;

const { f1, f2, f3, f4 } = A_POLES_HZ;

/** Analogue A-weighting magnitude (power ratio, 1 at 1 kHz) at frequency f Hz. */
export function aWeightingPower(f: number): number {
  const p = (x: number): number => {
    const x2 = x * x;
    return (f4 * f4 * x2 * x2) ** 2 / ((x2 + f1 * f1) ** 2 * (x2 + f2 * f2) * (x2 + f3 * f3) * (x2 + f4 * f4) ** 2);
  };
  return f <= 0 ? 0 : p(f) / p(1000);
}

/** Analogue A-weighting in dB (0 at 1 kHz): the IEC 61672-1 curve. */
export function aWeightingDb(f: number): number {
  return 10 * Math.log10(aWeightingPower(f));
}

/** One biquad: y = (b0 + b1·z⁻¹ + b2·z⁻²) / (1 + a1·z⁻¹ + a2·z⁻²) · x. */
export interface Biquad {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

/** The three sections of the A-weighting filter for sample rate fs (Hz), gain 0 dB at 1 kHz. */
export function designAWeighting(fs: number): Biquad[] {
  if (!Number.isFinite(fs) || fs < 4000) throw new Error(`aweight: sample rate ${fs} Hz is below 4000 Hz`);
  const bilinearPole = (f: number): number => {
    const k = (Math.PI * f) / fs;
    return (1 - k) / (1 + k);
  };
  const p1 = bilinearPole(f1);
  const p2 = bilinearPole(f2);
  const p3 = bilinearPole(f3);
  const sections: Biquad[] = [
    { b0: 1, b1: -2, b2: 1, a1: -2 * p1, a2: p1 * p1 },
    { b0: 1, b1: -2, b2: 1, a1: -(p2 + p3), a2: p2 * p3 },
    highSection(fs),
  ];
  const g = 1 / biquadsMagnitude(sections, 1000, fs);
  sections[0].b0 *= g;
  sections[0].b1 *= g;
  sections[0].b2 *= g;
  return sections;
}

/** Double pole at f4 matched by impulse invariance; first-order numerator matched in magnitude. */
function highSection(fs: number): Biquad {
  const w0 = (2 * Math.PI * f4) / fs;
  const p = Math.exp(-w0);
  const a1 = -2 * p;
  const a2 = p * p;
  if (w0 < 0.9 * Math.PI) {
    // Vicanek's matched low-pass, Q = ½ (critical damping): |H| right at DC, f4 and Nyquist.
    const q = 0.5;
    const A0 = (1 + a1 + a2) ** 2;
    const A1 = (1 - a1 + a2) ** 2;
    const A2 = -4 * a2;
    const phi1 = Math.sin(w0 / 2) ** 2;
    const phi0 = 1 - phi1;
    const phi2 = 4 * phi0 * phi1;
    const R1 = (A0 * phi0 + A1 * phi1 + A2 * phi2) * q * q;
    const B1 = Math.max(0, (R1 - A0 * phi0) / phi1);
    const b0 = 0.5 * (Math.sqrt(A0) + Math.sqrt(B1));
    return { b0, b1: Math.sqrt(A0) - b0, b2: 0, a1, a2 };
  }
  // f4 near or above Nyquist: match DC (1) and Nyquist (analogue 1/(1 + (fs/2/f4)²)).
  const atNyquist = 1 / (1 + (fs / 2 / f4) ** 2);
  const sum = (1 - p) ** 2;
  const diff = (1 + p) ** 2 * atNyquist;
  return { b0: (sum + diff) / 2, b1: (sum - diff) / 2, b2: 0, a1, a2 };
}

/** |H(e^jω)| of a cascade of biquads at f Hz. */
export function biquadsMagnitude(sections: Biquad[], f: number, fs: number): number {
  const w = (2 * Math.PI * f) / fs;
  const c1 = Math.cos(w), s1 = Math.sin(w), c2 = Math.cos(2 * w), s2 = Math.sin(2 * w);
  let mag = 1;
  for (const s of sections) {
    const nr = s.b0 + s.b1 * c1 + s.b2 * c2, ni = -(s.b1 * s1 + s.b2 * s2);
    const dr = 1 + s.a1 * c1 + s.a2 * c2, di = -(s.a1 * s1 + s.a2 * s2);
    mag *= Math.hypot(nr, ni) / Math.hypot(dr, di);
  }
  return mag;
}

/** The digital filter's response in dB at f Hz (for the checks against IEC 61672-1 Table 3). */
export function aWeightingResponseDb(fs: number, f: number): number {
  return 20 * Math.log10(biquadsMagnitude(designAWeighting(fs), f, fs));
}

export interface AWeightingFilter {
  /** Filters n samples of buf in place (state carries over between calls). */
  process(buf: Float64Array, n: number): void;
  reset(): void;
}

/** The A-weighting filter for sample rate fs, as a stateful block processor. */
export function createAWeighting(fs: number): AWeightingFilter {
  const [s0, s1, s2] = designAWeighting(fs);
  let sx1 = 0, sx2 = 0, sy1 = 0, sy2 = 0, sz1 = 0, sz2 = 0; // DF2T states of the three sections
  const { b0: a0b0, b1: a0b1, b2: a0b2, a1: a0a1, a2: a0a2 } = s0;
  const { b0: a1b0, b1: a1b1, b2: a1b2, a1: a1a1, a2: a1a2 } = s1;
  const { b0: a2b0, b1: a2b1, b2: a2b2, a1: a2a1, a2: a2a2 } = s2;
  const tiny = 1e-25;
  return {
    process(buf, n) {
      let x1 = sx1, x2 = sx2, y1 = sy1, y2 = sy2, z1 = sz1, z2 = sz2;
      for (let i = 0; i < n; i++) {
        const x = buf[i];
        const u = a0b0 * x + x1;
        x1 = a0b1 * x - a0a1 * u + x2;
        x2 = a0b2 * x - a0a2 * u;
        const v = a1b0 * u + y1;
        y1 = a1b1 * u - a1a1 * v + y2;
        y2 = a1b2 * u - a1a2 * v;
        const y = a2b0 * v + z1;
        z1 = a2b1 * v - a2a1 * y + z2;
        z2 = a2b2 * v - a2a2 * y;
        buf[i] = y;
      }
      // Long silence decays the states into subnormals (slow arithmetic): flush them.
      if (Math.abs(x1) < tiny && Math.abs(x2) < tiny) x1 = x2 = 0;
      if (Math.abs(y1) < tiny && Math.abs(y2) < tiny) y1 = y2 = 0;
      if (Math.abs(z1) < tiny && Math.abs(z2) < tiny) z1 = z2 = 0;
      sx1 = x1; sx2 = x2; sy1 = y1; sy2 = y2; sz1 = z1; sz2 = z2;
    },
    reset() {
      sx1 = sx2 = sy1 = sy2 = sz1 = sz2 = 0;
    },
  };
}
