// Test signals for the sound analyzer, made by real ffmpeg (lavfi sources and filters) and
// decoded to mono s16le PCM exactly as the camera driver hands it over: sines at a known level,
// pink noise, car-horn-like harmonic two-tone signals over background noise, speech-band noise.
import { execFile } from 'node:child_process';

/** Runs an ffmpeg filtergraph whose output pad is [out]; returns mono s16le PCM at `sampleRate`. */
export function ffmpegPcm(graph: string, sampleRate: number): Promise<Buffer> {
  const args = ['-hide_banner', '-loglevel', 'error', '-filter_complex', graph, '-map', '[out]', '-ac', '1', '-ar', String(sampleRate), '-f', 's16le', 'pipe:1'];
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', args, { encoding: 'buffer', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ffmpeg ${graph}: ${err.message} ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

/** RMS of s16le PCM in dBFS (20·log10(rms), full scale = 1), optionally from a start sample on. */
export function rmsDbfs(pcm: Buffer, from = 0): number {
  let e = 0;
  const n = pcm.length >> 1;
  for (let i = from; i < n; i++) {
    const v = pcm.readInt16LE(2 * i) / 32768;
    e += v * v;
  }
  return 10 * Math.log10(e / (n - from));
}

/** ffmpeg's `sine` source has amplitude 1/8, an RMS of 20·log10(1/8/√2) dBFS. */
const SINE_RMS_DBFS = 20 * Math.log10(1 / 8 / Math.SQRT2);

/** A sine of `f` Hz at `dbfs` (RMS) for `seconds`: the `sine` source through `volume`. */
export function sine(f: number, dbfs: number, seconds: number, sampleRate: number): Promise<Buffer> {
  const gain = dbfs - SINE_RMS_DBFS;
  return ffmpegPcm(`sine=f=${f}:r=${sampleRate}:d=${seconds},volume=${gain.toFixed(3)}dB[out]`, sampleRate);
}

/** A tone burst: `f` Hz at `dbfs` RMS for `burstS` seconds starting at `atS`, silence around it. */
export function toneBurst(f: number, dbfs: number, atS: number, burstS: number, seconds: number, sampleRate: number): Promise<Buffer> {
  const amp = Math.SQRT2 * 10 ** (dbfs / 20);
  const expr = `${amp}*sin(2*PI*${f}*t)*between(t,${atS},${atS + burstS})`;
  return ffmpegPcm(`aevalsrc='${expr}':s=${sampleRate}:d=${seconds}[out]`, sampleRate);
}

/** Noise from `anoisesrc` (fixed seed, so each run is the same), with optional extra filters. */
export function noise(color: 'white' | 'pink' | 'brown', amplitude: number, seconds: number, sampleRate: number, filters = ''): Promise<Buffer> {
  return ffmpegPcm(`anoisesrc=c=${color}:a=${amplitude}:r=${sampleRate}:d=${seconds}:seed=7${filters ? ',' + filters : ''}[out]`, sampleRate);
}

/**
 * White noise band-limited to the telephone speech band (300–3400 Hz, two 2-pole high-passes and
 * two 2-pole low-passes), at `gainDb`: broadband in the horn band, with no tone in it.
 */
export function speechBandNoise(gainDb: number, seconds: number, sampleRate: number): Promise<Buffer> {
  return noise('white', 0.5, seconds, sampleRate, `highpass=f=300,highpass=f=300,lowpass=f=3400,lowpass=f=3400,volume=${gainDb.toFixed(3)}dB`);
}

export interface HornSpec {
  /** [fundamental Hz, relative amplitude] of each horn tone; each gets harmonics 2..4 at 1/2, 1/3, 1/4. */
  tones: [number, number][];
  /** Time spans the horn sounds, s. */
  on: [number, number][];
  seconds: number;
  sampleRate: number;
  /** Overall gain of the horn, dB (0 = the strongest fundamental has amplitude 0.1). */
  gainDb: number;
  /** Background noise under the horn (anoisesrc amplitude), none when absent. */
  noise?: { color: 'white' | 'pink' | 'brown'; amplitude: number };
}

/**
 * A car-horn-like signal: harmonic tones (a two-tone horn by default, e.g. 420 + 500 Hz) gated on
 * in the given spans by `aevalsrc`, mixed (no normalization) with noise by `amix`.
 */
export function horn(spec: HornSpec): Promise<Buffer> {
  const terms: string[] = [];
  for (const [f, a] of spec.tones) {
    for (let h = 1; h <= 4; h++) if (f * h < spec.sampleRate / 2) terms.push(`${(0.1 * a) / h}*sin(2*PI*${f * h}*t)`);
  }
  const gate = spec.on.map(([a, b]) => `between(t,${a},${b})`).join('+');
  const src = `aevalsrc='(${gate})*(${terms.join('+')})':s=${spec.sampleRate}:d=${spec.seconds},volume=${spec.gainDb.toFixed(3)}dB`;
  if (!spec.noise) return ffmpegPcm(`${src}[out]`, spec.sampleRate);
  const bg = `anoisesrc=c=${spec.noise.color}:a=${spec.noise.amplitude}:r=${spec.sampleRate}:d=${spec.seconds}:seed=11`;
  return ffmpegPcm(`${src}[h];${bg}[n];[h][n]amix=inputs=2:normalize=0:duration=first[out]`, spec.sampleRate);
}
