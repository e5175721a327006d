// The sound analyzer (models/audio.ts) on signals made by real ffmpeg and decoded to mono s16le
// PCM (test/support/audio/synth.ts): calibrated A-weighted levels, the fast time weighting, and
// horn detection (a harmonic two-tone horn over noise vs speech-band and broadband noise at the
// same level, quiet and short horns, two horns, a continuous horn, a siren sweep).
import { describe, expect, test } from 'vitest';
import { analysisFrameSize, createSoundAnalyzer, type HornFrame } from './audio.ts';
import type { AnalyticEvent, AnalyticReading, AudioConfig } from './types.ts';
import { ffmpegPcm, horn, noise, rmsDbfs, sine, speechBandNoise, toneBurst } from '../test/support/audio/synth.ts';

const CAL = 120;
const cfg16: AudioConfig = { sampleRate: 16000, hornBand: [300, 3500], hornMinSeconds: 0.5, hornMinDb: 85, calibrationDb: CAL };
const T0 = 5000; // mono ms at the start of each signal

/** Pushes pcm in chunks of `chunk` bytes, each with the mono time of its end (as a pipe reader would). */
function run(pcm: Buffer, cfg: AudioConfig = cfg16, chunk = 4096) {
  const analyzer = createSoundAnalyzer(cfg);
  const events: AnalyticEvent[] = [];
  const readings: AnalyticReading[] = [];
  for (let at = 0; at < pcm.length; at += chunk) {
    const end = Math.min(at + chunk, pcm.length);
    const r = analyzer.push(pcm.subarray(at, end), T0 + (end / 2 / cfg.sampleRate) * 1000);
    events.push(...r.events);
    readings.push(...r.readings);
  }
  return { events, readings, laeq: values(readings, 'sound.laeq'), lamax: values(readings, 'sound.lamax') };
}
/** The horn detector's per-frame features over a signal. */
function frames(pcm: Buffer, cfg: AudioConfig = cfg16): HornFrame[] {
  const seen: HornFrame[] = [];
  createSoundAnalyzer(cfg, { onFrame: (f) => seen.push(f) }).push(pcm, T0 + (pcm.length / 2 / cfg.sampleRate) * 1000);
  return seen;
}
const values = (rs: AnalyticReading[], point: string): number[] => rs.filter((r) => r.point === point).map((r) => r.value);
const horns = (es: AnalyticEvent[]) => es.filter((e) => e.type === 'audio.horn').map((e) => e.data as Record<string, number | boolean>);
const binHz = (fs: number): number => fs / analysisFrameSize(fs);

/** The horn of the tests: 420 Hz (strongest) + 500 Hz, harmonics to the 4th, over pink noise. */
const HORN = { tones: [[420, 1], [500, 0.6]] as [number, number][], noise: { color: 'pink' as const, amplitude: 0.05 } };

describe('levels', () => {
  test('1 kHz sine: LAeq = dBFS + calibrationDb each second, LAFmax = LAeq for a steady tone (16 and 48 kHz)', async () => {
    const cases = [[16000, -20], [16000, -50], [48000, -20], [48000, -50]] as const;
    const signals = await Promise.all(cases.map(([fs, dbfs]) => sine(1000, dbfs, 2, fs)));
    cases.forEach(([fs, dbfs], i) => {
      const pcm = signals[i];
      const measured = rmsDbfs(pcm); // what ffmpeg made, measured independently of the analyzer
      expect(Math.abs(measured - dbfs)).toBeLessThan(0.1);
      const { laeq, lamax } = run(pcm, { ...cfg16, sampleRate: fs });
      expect(laeq).toHaveLength(2);
      for (const v of laeq) expect(Math.abs(v - (dbfs + CAL)), `${fs} Hz, ${dbfs} dBFS`).toBeLessThanOrEqual(0.5);
      expect(Math.abs(lamax[1] - laeq[1])).toBeLessThanOrEqual(0.3);
    });
  });

  test('100 Hz gets the A-weighting attenuation (−19.1 dB), 4 kHz +1.0 dB, 10 kHz at 48 kHz −2.5 dB', async () => {
    const cases: [number, number, number, number][] = [[100, -19.1, 16000, 1], [4000, 1.0, 16000, 0.5], [10000, -2.5, 48000, 0.5]];
    const signals = await Promise.all(cases.map(([f, , fs]) => sine(f, -30, 2, fs)));
    for (const [i, [f, a, fs, tol]] of cases.entries()) {
      const pcm = signals[i];
      const { laeq } = run(pcm, { ...cfg16, sampleRate: fs });
      const expected = rmsDbfs(pcm) + CAL + a;
      for (const v of laeq) expect(Math.abs(v - expected), `${f} Hz`).toBeLessThanOrEqual(tol);
    }
  });

  test('pink noise: LAeq steady from second to second, LAFmax above it', async () => {
    const { laeq, lamax } = run(await noise('pink', 0.05, 6, 16000));
    expect(laeq).toHaveLength(6);
    expect(Math.max(...laeq) - Math.min(...laeq)).toBeLessThanOrEqual(0.5);
    laeq.forEach((v, i) => {
      expect(lamax[i]).toBeGreaterThanOrEqual(v);
      expect(lamax[i] - v).toBeLessThan(3);
    });
  });

  test('fast time weighting: 4 kHz tone bursts of 1 s and 100 ms read 0.0 and −2.6 dB below the steady level (IEC 61672-1 Table 4)', async () => {
    const fs = 16000;
    const [steadyPcm, longPcm, shortPcm] = await Promise.all([sine(4000, -30, 2, fs), toneBurst(4000, -30, 0.3, 1, 2, fs), toneBurst(4000, -30, 0.3, 0.1, 2, fs)]);
    const steady = run(steadyPcm).lamax[1];
    const long = Math.max(...run(longPcm).lamax);
    const short = Math.max(...run(shortPcm).lamax);
    expect(Math.abs(long - steady)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(short - steady - -2.6)).toBeLessThanOrEqual(0.5);
  });

  test('digital silence reads the floor (calibrationDb − 120) and raises nothing', async () => {
    const pcm = await ffmpegPcm(`aevalsrc=0:s=16000:d=2[out]`, 16000);
    const { laeq, lamax, events } = run(pcm);
    expect(laeq).toEqual([CAL - 120, CAL - 120]);
    expect(lamax).toEqual([CAL - 120, CAL - 120]);
    expect(events).toEqual([]);
  });
});

describe('horns', () => {
  test('a 1.8 s two-tone horn over pink noise: one event, its duration, dominant and second tone, levels and times', async () => {
    const fs = 16000;
    const pcm = await horn({ ...HORN, on: [[0.6, 2.4]], seconds: 3.5, sampleRate: fs, gainDb: 0 });
    const { events, lamax } = run(pcm);
    const found = horns(events);
    expect(found).toHaveLength(1);
    const h = found[0];
    expect(events[0].severity).toBe('info');
    expect(Math.abs((h.durationS as number) - 1.8)).toBeLessThanOrEqual(0.2);
    expect(Math.abs((h.frequencyHz as number) - 420)).toBeLessThanOrEqual(2 * binHz(fs));
    expect(Math.abs((h.secondFrequencyHz as number) - 500)).toBeLessThanOrEqual(2 * binHz(fs));
    expect(h.laMaxDb).toBeGreaterThanOrEqual(85);
    expect(Math.abs((h.laMaxDb as number) - Math.max(...lamax))).toBeLessThanOrEqual(1);
    expect(h.laEqDb).toBeLessThanOrEqual(h.laMaxDb as number);
    expect(Math.abs((h.startMono as number) - (T0 + 600))).toBeLessThanOrEqual(200);
    expect(Math.abs((h.endMono as number) - (T0 + 2400))).toBeLessThanOrEqual(200);
    expect(h).toMatchObject({ part: 1, continues: false });
  });

  test('the same horn at 48 kHz (4096-point frames): one event', async () => {
    const fs = 48000;
    const pcm = await horn({ ...HORN, on: [[0.6, 2.4]], seconds: 3.2, sampleRate: fs, gainDb: 0 });
    const found = horns(run(pcm, { ...cfg16, sampleRate: fs }).events);
    expect(found).toHaveLength(1);
    expect(Math.abs((found[0].durationS as number) - 1.8)).toBeLessThanOrEqual(0.2);
    expect(Math.abs((found[0].frequencyHz as number) - 420)).toBeLessThanOrEqual(2 * binHz(fs));
  });

  test('speech-band noise and pink noise at the horn\'s level: no event', async () => {
    const fs = 16000;
    const hornPcm = await horn({ ...HORN, on: [[0.5, 2.5]], seconds: 3, sampleRate: fs, gainDb: 0 });
    const target = run(hornPcm).laeq[1];
    expect(horns(run(hornPcm).events)).toHaveLength(1); // the reference itself is a horn
    const [speechProbe, pinkProbePcm] = await Promise.all([speechBandNoise(0, 3, fs), noise('pink', 0.1, 3, fs)]);
    const probe = run(speechProbe).laeq[1];
    const pinkProbe = run(pinkProbePcm).laeq[1];
    const [speechPcm, pinkPcm] = await Promise.all([
      speechBandNoise(target - probe, 3, fs),
      noise('pink', 0.1, 3, fs, `volume=${(target - pinkProbe).toFixed(2)}dB`),
    ]);
    const speech = run(speechPcm);
    expect(Math.abs(speech.laeq[1] - target)).toBeLessThanOrEqual(1);
    expect(Math.min(...speech.lamax)).toBeGreaterThanOrEqual(85);
    expect(speech.events).toEqual([]);
    // frame by frame: loud and band-dominant like the horn, stopped by the tonality test alone
    const speechFrames = frames(speechPcm);
    expect(speechFrames.every((f) => f.levelDb >= 85 && f.bandShare >= 0.6 && !f.pass)).toBe(true);
    const hornFrames = frames(hornPcm).filter((f) => f.mono > T0 + 700 && f.mono < T0 + 2300);
    expect(hornFrames.length).toBeGreaterThan(20);
    expect(hornFrames.every((f) => f.pass)).toBe(true);

    const pink = run(pinkPcm);
    expect(Math.abs(pink.laeq[1] - target)).toBeLessThanOrEqual(1);
    expect(pink.events).toEqual([]);
  });

  test('a horn below hornMinDb, or shorter than hornMinSeconds: no event', async () => {
    const fs = 16000;
    const [quietPcm, shortPcm] = await Promise.all([
      horn({ ...HORN, noise: { color: 'pink', amplitude: 0.005 }, on: [[0.6, 2.4]], seconds: 3, sampleRate: fs, gainDb: -20 }),
      horn({ ...HORN, on: [[0.6, 0.9]], seconds: 2, sampleRate: fs, gainDb: 0 }),
    ]);
    const quiet = run(quietPcm);
    expect(Math.max(...quiet.lamax)).toBeLessThan(85);
    expect(Math.max(...quiet.lamax)).toBeGreaterThan(70);
    expect(quiet.events).toEqual([]);
    // the same quiet horn counts on a site whose threshold is lower
    expect(horns(run(quietPcm, { ...cfg16, hornMinDb: 70 }).events)).toHaveLength(1);

    const short = run(shortPcm);
    expect(short.events).toEqual([]);
  });

  test('two horns 1 s apart: two events; chunks of 1, 37 and 4096 bytes give the same results', async () => {
    const fs = 16000;
    const pcm = await horn({ ...HORN, on: [[0.5, 2.3], [3.3, 5.1]], seconds: 6, sampleRate: fs, gainDb: 0 });
    const base = run(pcm, cfg16, 4096);
    const found = horns(base.events);
    expect(found).toHaveLength(2);
    for (const h of found) expect(Math.abs((h.durationS as number) - 1.8)).toBeLessThanOrEqual(0.2);
    expect(Math.abs((found[1].startMono as number) - (found[0].endMono as number) - 1000)).toBeLessThanOrEqual(200);
    expect(base.laeq).toHaveLength(6);
    for (const chunk of [1, 37]) expect(run(pcm, cfg16, chunk)).toEqual(base);
  });

  test('a pause of 60 ms inside a horn keeps it one horn, a pause of 300 ms makes two', async () => {
    const [short, long] = await Promise.all([
      horn({ ...HORN, on: [[0.5, 1.2], [1.26, 2.3]], seconds: 3, sampleRate: 16000, gainDb: 0 }),
      horn({ ...HORN, on: [[0.5, 1.2], [1.5, 2.3]], seconds: 3, sampleRate: 16000, gainDb: 0 }),
    ]);
    const one = horns(run(short).events);
    expect(one).toHaveLength(1);
    expect(Math.abs((one[0].durationS as number) - 1.8)).toBeLessThanOrEqual(0.2);
    const two = horns(run(long).events);
    expect(two).toHaveLength(2);
    expect(Math.abs((two[0].durationS as number) - 0.7)).toBeLessThanOrEqual(0.15);
    expect(Math.abs((two[1].durationS as number) - 0.8)).toBeLessThanOrEqual(0.15);
  });

  test('a continuous 12 s horn is reported in parts of at most 10 s', async () => {
    const pcm = await horn({ ...HORN, on: [[0.5, 12.5]], seconds: 13, sampleRate: 16000, gainDb: 0 });
    const found = horns(run(pcm).events);
    expect(found).toHaveLength(2);
    expect(found[0]).toMatchObject({ part: 1, continues: true });
    expect(Math.abs((found[0].durationS as number) - 10)).toBeLessThanOrEqual(0.1);
    expect(found[1]).toMatchObject({ part: 2, continues: false });
    expect(Math.abs((found[1].durationS as number) - 2)).toBeLessThanOrEqual(0.2);
    expect(Math.abs((found[1].endMono as number) - (T0 + 12500))).toBeLessThanOrEqual(200);
  });

  test('a siren (tonal, but sweeping 600–1200 Hz) is not a horn', async () => {
    const fs = 16000;
    // f(t) = 900 + 300·sin(πt): phase 2π·(900t − (300/π)·cos(πt)), with two harmonics
    const ph = '2*PI*(900*t-(300/PI)*cos(PI*t))';
    const pcm = await ffmpegPcm(`aevalsrc='0.1*sin(${ph})+0.05*sin(2*${ph})+0.03*sin(3*${ph})':s=${fs}:d=6[out]`, fs);
    const { events, lamax } = run(pcm);
    expect(Math.min(...lamax)).toBeGreaterThanOrEqual(85);
    expect(events).toEqual([]);
    // every frame is loud, in band and tonal: only the steady-pitch test stops it
    expect(frames(pcm).every((f) => f.pass)).toBe(true);
  });

  test('a hole in the caller\'s clock closes an open horn and moves the time base', async () => {
    const fs = 16000;
    const pcm = await horn({ ...HORN, on: [[0.5, 2.3], [3.3, 5.1]], seconds: 6, sampleRate: fs, gainDb: 0 });
    const analyzer = createSoundAnalyzer(cfg16);
    const cut = 2 * Math.round(fs * 1.5); // in the middle of the first horn
    const first = analyzer.push(pcm.subarray(0, cut), T0 + 1500);
    expect(first.events).toEqual([]);
    const second = analyzer.push(pcm.subarray(cut), T0 + 60_000 + 6000); // 60 s of audio went missing
    const found = horns(second.events);
    expect(found).toHaveLength(3); // the first horn's 1 s before the hole, its 0.8 s after it, the second horn
    expect(Math.abs((found[0].durationS as number) - 1)).toBeLessThanOrEqual(0.2);
    expect(found[0].endMono as number).toBeLessThan(T0 + 2000);
    expect(Math.abs((found[2].startMono as number) - (T0 + 60_000 + 3300))).toBeLessThanOrEqual(200);
  });
});

describe('config', () => {
  test('refuses what it cannot measure, naming the field', () => {
    expect(() => createSoundAnalyzer({ ...cfg16, sampleRate: 1000 })).toThrow(/sampleRate/);
    expect(() => createSoundAnalyzer({ ...cfg16, hornBand: [3500, 300] })).toThrow(/hornBand/);
    expect(() => createSoundAnalyzer({ ...cfg16, hornBand: [300, 9000] })).toThrow(/8000 Hz/);
    expect(() => createSoundAnalyzer({ ...cfg16, hornBand: [400, 450] })).toThrow(/FFT bins/);
    expect(() => createSoundAnalyzer({ ...cfg16, hornMinSeconds: -1 })).toThrow(/hornMinSeconds/);
    expect(() => createSoundAnalyzer({ ...cfg16, calibrationDb: Number.NaN })).toThrow(/calibrationDb/);
  });
});
