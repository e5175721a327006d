// The sound analyzer of a camera or pole microphone: A-weighted levels (LAeq each second, the
// second's LAFmax) and horn ("honking") detection, on mono s16le PCM the camera driver decodes
// with ffmpeg. Not a certified sound level meter: docs/sound.md says how it measures and where
// it falls short.
//
//  samples ─┬─ A-weighting IIR (aweight.ts) ─ a² ─┬─ Σ over each second → sound.laeq
//           │                                     └─ fast (τ = 125 ms) exponential average → max per second → sound.lamax
//           └─ Hann frames, 50 % hop, FFT (fft.ts) → per frame: loud? band-dominant? tonal?
//                → runs of such frames (gaps ≤ 100 ms), ≥ hornMinSeconds, steady pitch → audio.horn
//
// Time: sample n is at anchor + n/fs; the anchor comes from the first push's `mono` (the
// monotonic ms when the chunk's last sample was read) and is re-anchored when the caller's clock
// and the sample count part by more than a second (a stalled or restarted stream). A horn open
// across such a gap is closed first.
import { createAWeighting, aWeightingPower } from './aweight.ts';
import { createFft, hannWindow } from './fft.ts';
import type { AnalyticEvent, AnalyticReading, AudioConfig, SoundAnalyzer } from './types.ts';

/** Fast time weighting of IEC 61672-1, s. */
export const FAST_TAU_S = 0.125;
/** Quiet frames a horn may have inside it (a driver pumping the horn), s. */
export const HORN_GAP_S = 0.1;
/** A continuous horn is reported in parts of at most this long, s. */
export const HORN_MAX_PART_S = 10;
/** Caller's clock vs sample count: beyond this the time base is re-anchored, ms. */
export const MAX_DRIFT_MS = 1000;
/** Mean square floor: −120 dBFS (digital silence is reported as calibrationDb − 120). */
const FLOOR = 1e-12;

/** Per-frame thresholds of the horn detector (docs/sound.md explains each). */
export const HORN_TUNING = {
  /** Share of the frame's A-weighted energy inside hornBand. */
  bandShare: 0.6,
  /** The strongest peak in the band stands this far above the band's median bin, dB. */
  peakOverMedianDb: 15,
  /** Share of the band's energy in its 3 strongest peaks (±2 bins each). */
  peakShare: 0.4,
  /** Share of a horn's frames that carry its dominant frequency (a steady pitch, not a sweep). */
  steadyShare: 0.6,
} as const;

const PEAKS = 3;
const LOBE = 2; // Hann main lobe: ±2 bins

/** FFT size for a sample rate: the power of two covering ≥ 64 ms (1024 at 16 kHz, 4096 at 48 kHz). */
export function analysisFrameSize(sampleRate: number): number {
  let n = 256;
  while (n < 0.064 * sampleRate) n *= 2;
  return n;
}

function validate(cfg: AudioConfig): void {
  const fs = cfg.sampleRate;
  if (!Number.isInteger(fs) || fs < 8000 || fs > 192000) throw new Error(`audio: sampleRate ${fs} must be an integer from 8000 to 192000 Hz`);
  const [lo, hi] = cfg.hornBand ?? [];
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo > 0 && hi > lo && hi <= fs / 2)) {
    throw new Error(`audio: hornBand [${cfg.hornBand}] must be [low, high] Hz with 0 < low < high ≤ sampleRate/2 (${fs / 2} Hz)`);
  }
  if (!(Number.isFinite(cfg.hornMinSeconds) && cfg.hornMinSeconds >= 0 && cfg.hornMinSeconds <= HORN_MAX_PART_S)) {
    throw new Error(`audio: hornMinSeconds ${cfg.hornMinSeconds} must be from 0 to ${HORN_MAX_PART_S} s`);
  }
  if (!Number.isFinite(cfg.hornMinDb)) throw new Error(`audio: hornMinDb ${cfg.hornMinDb} is not a number`);
  if (!Number.isFinite(cfg.calibrationDb)) throw new Error(`audio: calibrationDb ${cfg.calibrationDb} is not a number`);
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** What the horn detector saw in one analysis frame (diagnostics: tuning, docs, tests). */
export interface HornFrame {
  /** Mono ms of the frame's centre. */
  mono: number;
  /** A-weighted level over the frame, dBA (calibrated). */
  levelDb: number;
  /** Share of the A-weighted energy in hornBand, 0..1. */
  bandShare: number;
  /** Strongest in-band peak over the band's median bin, dB (−Infinity when no peak). */
  peakOverMedianDb: number;
  /** Share of the band's energy in its strongest peaks' main lobes, 0..1. */
  peakShare: number;
  /** Frequency of the strongest in-band peak, Hz (0 when none). */
  peakHz: number;
  /** Loud, band-dominant and tonal: the frame counts toward a horn. */
  pass: boolean;
}

export interface SoundAnalyzerOptions {
  /** Called with every analysis frame's features (off by default: no allocation per frame). */
  onFrame?: (f: HornFrame) => void;
}

export function createSoundAnalyzer(cfg: AudioConfig, opts: SoundAnalyzerOptions = {}): SoundAnalyzer {
  validate(cfg);
  const fs = cfg.sampleRate;
  const cal = cfg.calibrationDb;
  const db = (meanSquare: number): number => 10 * Math.log10(Math.max(meanSquare, FLOOR)) + cal;

  // Levels
  const weighting = createAWeighting(fs);
  const fastAlpha = 1 - Math.exp(-1 / (fs * FAST_TAU_S));
  let fast = 0;
  let secSum = 0;
  let secCount = 0;
  let secMax = 0;

  // Frames
  const N = analysisFrameSize(fs);
  const H = N / 2;
  const binHz = fs / N;
  const fft = createFft(N);
  const window = hannWindow(N);
  const ring = new Float64Array(N); // last N raw samples
  let ringPos = 0;
  const re = new Float64Array(N);
  const im = new Float64Array(N);
  const half = N / 2;
  const power = new Float64Array(half);
  const aGain = new Float64Array(half);
  for (let k = 1; k < half; k++) aGain[k] = aWeightingPower(k * binHz);
  const kLo = Math.max(2, Math.ceil(cfg.hornBand[0] / binHz));
  const kHi = Math.min(half - 3, Math.floor(cfg.hornBand[1] / binHz));
  if (kHi - kLo < 8) throw new Error(`audio: hornBand [${cfg.hornBand}] spans fewer than 8 FFT bins of ${binHz.toFixed(1)} Hz`);
  const scratch = new Float64Array(kHi - kLo + 1);
  const peakBin = new Int32Array(PEAKS);
  const peakPow = new Float64Array(PEAKS);
  let hopSum = 0; // Σa² of the current hop
  let prevHopSum = 0;
  let hopMax = 0; // max fast level of the current hop
  let prevHopMax = 0;
  let hopFill = 0;

  // Horn run (a run may be reported in parts of ≤ HORN_MAX_PART_S)
  const gapFrames = Math.floor((HORN_GAP_S * fs) / H);
  const maxFrames = Math.ceil((HORN_MAX_PART_S * fs) / H) + 2;
  const frameBins = new Int32Array(maxFrames * PEAKS); // the passing frames' peaks (−1 = none)
  const histPow = new Float64Array(half); // Σ peak power by bin over the part
  const histFreq = new Float64Array(half); // Σ power·interpolated frequency by bin
  let open = false; // a run is going on (possibly between parts)
  let part = 0; // parts already reported of this run
  let frames = 0; // passing frames in the current part
  let firstCenter = 0;
  let lastCenter = 0;
  let energySum = 0;
  let maxFast = 0;

  // Time and input
  let total = 0; // complete samples consumed
  let anchor = 0; // mono ms of sample 0
  let anchored = false;
  let oddByte = -1;
  let block = new Float64Array(4096);
  let weighted = new Float64Array(4096);

  const monoOf = (sample: number): number => anchor + (sample * 1000) / fs;

  function resetPart(): void {
    frames = 0;
    energySum = 0;
    maxFast = 0;
    histPow.fill(0, kLo - 1, kHi + 2);
    histFreq.fill(0, kLo - 1, kHi + 2);
  }

  /** Ends the current part; returns its event when it is a horn. */
  function closePart(continues: boolean, out: AnalyticEvent[]): void {
    if (frames === 0) return;
    const durationS = (lastCenter - firstCenter + H) / fs;
    const laMaxDb = db(maxFast);
    // dominant bin: largest accumulated peak power, neighbours merged
    let best = -1, bestPow = 0;
    for (let k = kLo; k <= kHi; k++) {
      const p = histPow[k - 1] + histPow[k] + histPow[k + 1];
      if (p > bestPow) { bestPow = p; best = k; }
    }
    // steady pitch: share of frames with a peak near the dominant bin
    const tol = Math.max(LOBE, Math.round(0.04 * best)); // ±2 bins or ±4 % (Doppler of a passing car)
    let steady = 0;
    for (let f = 0; f < frames; f++) {
      for (let j = 0; j < PEAKS; j++) {
        const b = frameBins[f * PEAKS + j];
        if (b >= 0 && Math.abs(b - best) <= tol) { steady++; break; }
      }
    }
    const isHorn = best > 0
      && (part > 0 || durationS >= cfg.hornMinSeconds)
      && laMaxDb >= cfg.hornMinDb
      && steady >= HORN_TUNING.steadyShare * frames;
    if (isHorn) {
      const freqAt = (k: number): number => {
        const p = histPow[k - 1] + histPow[k] + histPow[k + 1];
        return p > 0 ? (histFreq[k - 1] + histFreq[k] + histFreq[k + 1]) / p : k * binHz;
      };
      // second peak: the strongest other local maximum of the histogram, clear of the dominant
      // one's main lobe, within 10 dB of it
      let second = -1, secondPow = 0;
      for (let k = kLo; k <= kHi; k++) {
        const p = histPow[k];
        if (Math.abs(k - best) <= 2 * LOBE || p <= histPow[k - 1] || p < histPow[k + 1]) continue;
        if (p > secondPow) { secondPow = p; second = k; }
      }
      const data: Record<string, unknown> = {
        durationS: round2(durationS),
        laMaxDb: round1(laMaxDb),
        laEqDb: round1(db(energySum / frames)),
        frequencyHz: round1(freqAt(best)),
        startMono: round1(monoOf(firstCenter - H / 2)),
        endMono: round1(monoOf(lastCenter + H / 2)),
        part: part + 1,
        continues,
      };
      if (second > 0 && secondPow >= 0.1 * histPow[best]) data.secondFrequencyHz = round1(freqAt(second));
      out.push({ type: 'audio.horn', severity: 'info', data });
      part++;
    } else if (continues) {
      part = 0; // a 10 s stretch that is no horn: what follows must qualify on its own
    }
    resetPart();
  }

  function endRun(out: AnalyticEvent[]): void {
    if (open) closePart(false, out);
    open = false;
    part = 0;
    resetPart();
  }

  /** One analysis frame: the last N samples, ending at sample `total`. */
  function analyzeFrame(out: AnalyticEvent[]): void {
    for (let i = 0; i < N; i++) {
      re[i] = ring[(ringPos + i) % N] * window[i];
      im[i] = 0;
    }
    fft.transform(re, im);
    let totalA = 0, bandA = 0, bandP = 0;
    for (let k = 1; k < half; k++) {
      const p = re[k] * re[k] + im[k] * im[k];
      power[k] = p;
      const pa = p * aGain[k];
      totalA += pa;
      if (k >= kLo && k <= kHi) { bandA += pa; bandP += p; }
    }
    const center = total - H;
    const frameMs = (prevHopSum + hopSum) / N;
    const loud = db(frameMs) >= cfg.hornMinDb;
    let pass = loud && totalA > 0 && bandA >= HORN_TUNING.bandShare * totalA;
    let median = 0, lobes = 0;
    if (pass || opts.onFrame) {
      // the strongest local maxima in the band
      peakBin.fill(-1);
      peakPow.fill(0);
      for (let k = kLo; k <= kHi; k++) {
        const p = power[k];
        if (p <= power[k - 1] || p < power[k + 1] || p <= peakPow[PEAKS - 1]) continue;
        let j = PEAKS - 1;
        while (j > 0 && peakPow[j - 1] < p) { peakPow[j] = peakPow[j - 1]; peakBin[j] = peakBin[j - 1]; j--; }
        peakPow[j] = p;
        peakBin[j] = k;
      }
      for (let k = kLo; k <= kHi; k++) scratch[k - kLo] = power[k];
      median = quickselect(scratch, scratch.length >> 1);
      // energy in the peaks' main lobes, each bin counted once
      for (let k = kLo; k <= kHi; k++) {
        for (let j = 0; j < PEAKS; j++) {
          if (peakBin[j] >= 0 && Math.abs(k - peakBin[j]) <= LOBE) { lobes += power[k]; break; }
        }
      }
      pass &&= peakBin[0] >= 0
        && peakPow[0] >= median * 10 ** (HORN_TUNING.peakOverMedianDb / 10)
        && lobes >= HORN_TUNING.peakShare * bandP;
    }
    opts.onFrame?.({
      mono: monoOf(center),
      levelDb: db(frameMs),
      bandShare: totalA > 0 ? bandA / totalA : 0,
      peakOverMedianDb: peakBin[0] >= 0 && median > 0 ? 10 * Math.log10(peakPow[0] / median) : -Infinity,
      peakShare: bandP > 0 ? lobes / bandP : 0,
      peakHz: peakBin[0] >= 0 ? peakBin[0] * binHz : 0,
      pass,
    });

    if (pass) {
      if (!open) { open = true; part = 0; }
      if (frames === 0) firstCenter = center;
      lastCenter = center;
      energySum += frameMs;
      maxFast = Math.max(maxFast, prevHopMax, hopMax);
      for (let j = 0; j < PEAKS; j++) {
        const k = peakBin[j];
        frameBins[frames * PEAKS + j] = k;
        if (k < 0) continue;
        // Gaussian interpolation of the peak (exact for a Gaussian lobe, close for Hann)
        const a = Math.log(Math.max(power[k - 1], 1e-300)), b = Math.log(power[k]), c = Math.log(Math.max(power[k + 1], 1e-300));
        const den = a - 2 * b + c;
        const delta = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / den)) : 0;
        histPow[k] += power[k];
        histFreq[k] += power[k] * (k + delta) * binHz;
      }
      frames++;
      if (lastCenter - firstCenter + H >= HORN_MAX_PART_S * fs || frames >= maxFrames) closePart(true, out);
    } else if (open && center - lastCenter > gapFrames * H) {
      endRun(out);
    }
  }

  function consume(n: number, out: AnalyticEvent[], readings: AnalyticReading[]): void {
    weighted.set(block.subarray(0, n));
    weighting.process(weighted, n);
    let i = 0;
    while (i < n) {
      // a tight stretch up to the next hop or second boundary, state in locals
      const stop = Math.min(n, i + (H - hopFill), i + (fs - secCount));
      const count = stop - i;
      let f = fast, ss = secSum, sm = secMax, hs = hopSum, hm = hopMax, rp = ringPos;
      for (; i < stop; i++) {
        const a = weighted[i];
        const a2 = a * a;
        f += fastAlpha * (a2 - f);
        ss += a2;
        hs += a2;
        if (f > sm) sm = f;
        if (f > hm) hm = f;
        ring[rp] = block[i];
        rp = rp + 1 === N ? 0 : rp + 1;
      }
      fast = f; secSum = ss; secMax = sm; hopSum = hs; hopMax = hm; ringPos = rp;
      total += count;
      secCount += count;
      hopFill += count;
      if (secCount === fs) {
        readings.push({ point: 'sound.laeq', value: round1(db(secSum / fs)), unit: 'dBA' });
        readings.push({ point: 'sound.lamax', value: round1(db(secMax)), unit: 'dBA' });
        secSum = 0;
        secCount = 0;
        secMax = 0;
      }
      if (hopFill === H) {
        if (total >= N) analyzeFrame(out);
        prevHopSum = hopSum;
        prevHopMax = hopMax;
        hopSum = 0;
        hopMax = 0;
        hopFill = 0;
      }
    }
  }

  return {
    push(pcm, mono) {
      const events: AnalyticEvent[] = [];
      const readings: AnalyticReading[] = [];
      const bytes = pcm.length + (oddByte >= 0 ? 1 : 0);
      const count = bytes >> 1;
      const endMs = anchor + ((total + count) * 1000) / fs;
      if (!anchored) {
        if (!Number.isFinite(mono)) throw new Error(`audio: push given mono ${mono}, not a monotonic time in ms`);
        anchor = mono - (count * 1000) / fs;
        anchored = true;
      } else if (Number.isFinite(mono) && Math.abs(mono - endMs) > MAX_DRIFT_MS) {
        if (mono > endMs) endRun(events); // audio went missing: a horn does not span the hole
        anchor += mono - endMs;
      }
      if (block.length < count) {
        block = new Float64Array(count);
        weighted = new Float64Array(count);
      }
      let at = 0;
      let n = 0;
      if (oddByte >= 0 && pcm.length > 0) {
        block[n++] = ((((pcm[0] << 8) | oddByte) << 16) >> 16) / 32768;
        oddByte = -1;
        at = 1;
      }
      for (; at + 1 < pcm.length; at += 2) block[n++] = (((pcm[at] | (pcm[at + 1] << 8)) << 16) >> 16) / 32768;
      if (at < pcm.length) oddByte = pcm[at];
      consume(n, events, readings);
      return { events, readings };
    },
  };
}

/** k-th smallest of a (reordered in place), Hoare's selection. */
function quickselect(a: Float64Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}
