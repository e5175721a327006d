import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { correctRecordJson, createClock, type ClockChange } from './clock.ts';
import { createManualClock } from '../test/helpers/clock.ts';
import { silentLog } from './log.ts';
import type { OutRecord } from './types.ts';

const log = silentLog();
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'wayside-clock-'));
  dirs.push(d);
  return d;
};
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** Time sources a test can step, standing in for Date.now/performance.now. */
function sources(wall: number) {
  const s = { wallMs: wall, monoMs: 0, wall: () => s.wallMs, mono: () => s.monoMs };
  return s;
}

describe('real clock', () => {
  it('always: trusted, wall = Date.now, mono advances and never goes back', async () => {
    const c = createClock({ trust: 'always', log });
    try {
      expect(c.trusted()).toBe(true);
      expect(c.flag()).toBeUndefined();
      expect(Math.abs(c.now() - Date.now())).toBeLessThan(50);
      const m0 = c.mono();
      await new Promise((r) => setTimeout(r, 20));
      const m1 = c.mono();
      expect(m1 - m0).toBeGreaterThanOrEqual(15);
      expect(c.boot()).toMatch(/\S+/);
    } finally { c.stop(); }
  });

  it('ntp: untrusted until the timesyncd marker appears, found by the poll timer', async () => {
    const marker = join(tmp(), 'synchronized');
    const c = createClock({ trust: 'ntp', syncMarker: marker, log, pollMs: 10 });
    try {
      const changes: ClockChange[] = [];
      c.onChange((ch) => changes.push(ch));
      expect(c.trusted()).toBe(false);
      expect(c.flag()).toEqual({ state: 'untrusted', boot: c.boot() });
      writeFileSync(marker, '');
      await vi.waitFor(() => expect(c.trusted()).toBe(true), { timeout: 2000, interval: 10 });
      expect(c.flag()).toBeUndefined();
      expect(changes[0]?.trusted).toBe(true);
      // No step happened: the untrusted stamps were right, the correction is ~0.
      expect(Math.abs(c.correction({ state: 'untrusted', boot: c.boot() }) ?? 99)).toBeLessThan(50);
    } finally { c.stop(); }
  });

  it('auto: trusted when the wall clock is past minValidTime, else waits for the marker', () => {
    const marker = join(tmp(), 'none');
    const a = createClock({ trust: 'auto', syncMarker: marker, minValidTime: Date.now() - 1000, log });
    const b = createClock({ trust: 'auto', syncMarker: marker, minValidTime: Date.now() + 3_600_000, log });
    expect(a.trusted()).toBe(true);
    expect(b.trusted()).toBe(false);
    a.stop(); b.stop();
  });
});

describe('step detection and correction', () => {
  const unsetWall = Date.UTC(2000, 0, 1); // an RTC-less board boots in the past

  it('learns the boot offset when an NTP step makes the clock trusted, and persists it', () => {
    const dir = tmp();
    const src = sources(unsetWall);
    const c = createClock({ trust: 'auto', stateDir: dir, syncMarker: join(dir, 'm'), log, sources: src, pollMs: 60_000 });
    const changes: ClockChange[] = [];
    c.onChange((ch) => changes.push(ch));
    expect(c.trusted()).toBe(false);
    const flag = c.flag()!;
    src.monoMs += 5000; src.wallMs += 5000;
    c.poll();
    expect(c.trusted()).toBe(false);
    const step = Date.UTC(2026, 3, 1) - src.wallMs;
    src.monoMs += 2000; src.wallMs += 2000 + step;
    c.poll();
    expect(c.trusted()).toBe(true);
    expect(c.correction(flag)).toBe(step);
    expect(c.correction({ state: 'untrusted', boot: 'another-boot' })).toBeUndefined();
    expect(changes).toEqual([{ trusted: true, offsetMs: step, stepMs: step }]);
    const saved = JSON.parse(readFileSync(join(dir, 'clock.json'), 'utf8'));
    expect(saved).toMatchObject({ boot: c.boot(), offsetMs: step });
    c.stop();

    // A restart in the same boot (clock now good) still corrects records queued before.
    const c2 = createClock({ trust: 'always', stateDir: dir, log });
    expect(c2.correction(flag)).toBe(step);
    c2.stop();
  });

  it('keeps the untrusted base across an agent restart before the sync (same boot)', () => {
    const dir = tmp();
    const marker = join(dir, 'synchronized');
    const src = sources(unsetWall);
    src.monoMs = 20_000; // ms since boot
    const a = createClock({ trust: 'ntp', stateDir: dir, syncMarker: marker, log, sources: src, pollMs: 60_000 });
    const flag = a.flag()!;
    a.stop(); // agent crashes before NTP syncs
    src.monoMs += 30_000; src.wallMs += 30_000 + 86_400_000; // NTP steps a day while no agent runs
    const b = createClock({ trust: 'ntp', stateDir: dir, syncMarker: marker, log, sources: src, pollMs: 60_000 });
    expect(b.trusted()).toBe(false);
    writeFileSync(marker, '');
    src.monoMs += 2000; src.wallMs += 2000;
    b.poll();
    expect(b.trusted()).toBe(true);
    expect(b.correction(flag)).toBe(86_400_000);
    b.stop();
  });

  it('reports a step of a trusted clock without touching corrections', () => {
    const src = sources(Date.UTC(2026, 5, 1));
    const c = createClock({ trust: 'always', log, sources: src, pollMs: 60_000 });
    const changes: ClockChange[] = [];
    c.onChange((ch) => changes.push(ch));
    src.monoMs += 1000; src.wallMs += 1000 + 500; // slew-sized: not a step
    c.poll();
    src.monoMs += 1000; src.wallMs += 1000 - 30_000;
    c.poll();
    expect(changes).toEqual([{ trusted: true, stepMs: -30_000 }]);
    expect(c.correction({ state: 'untrusted', boot: c.boot() })).toBeUndefined();
    c.stop();
  });

  it('ignores an unreadable clock.json', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'clock.json'), '{nope');
    const c = createClock({ trust: 'always', stateDir: dir, log });
    expect(c.correction({ state: 'untrusted', boot: c.boot() })).toBeUndefined();
    c.stop();
    expect(existsSync(join(dir, 'clock.json'))).toBe(true);
  });
});

describe('correctRecordJson', () => {
  const clock = createManualClock();
  clock.setCorrection('b1', 1_000_000);
  const flag = { state: 'untrusted' as const, boot: 'b1' };

  it('shifts summary start/end and record ts, marks the body corrected', () => {
    const rec: OutRecord = {
      id: 'X', kind: 'summary', ts: 2000,
      body: { device: 'd', point: 'p', start: 1000, end: 2000, count: 1, min: 1, max: 1, mean: 1, last: 1, bad: 0, clock: flag },
    };
    const out = JSON.parse(correctRecordJson(JSON.stringify(rec), clock));
    expect(out.ts).toBe(1_002_000);
    expect(out.body.start).toBe(1_001_000);
    expect(out.body.end).toBe(1_002_000);
    expect(out.body.clock).toEqual({ state: 'corrected', offsetMs: 1_000_000, boot: 'b1' });
    expect(out.id).toBe('X');
  });

  it('shifts reading and event ts', () => {
    const reading: OutRecord = { id: 'R', kind: 'reading', ts: 5, body: { device: 'd', point: 'p', value: 1, quality: 'good', ts: 5, clock: flag } };
    expect(JSON.parse(correctRecordJson(JSON.stringify(reading), clock)).body.ts).toBe(1_000_005);
    const ev: OutRecord = { id: 'E', kind: 'event', ts: 7, body: { id: 'E', type: 't', severity: 'info', ts: 7, data: {}, clock: flag } };
    const out = JSON.parse(correctRecordJson(JSON.stringify(ev), clock));
    expect([out.ts, out.body.ts, out.body.clock.state]).toEqual([1_000_007, 1_000_007, 'corrected']);
  });

  it('returns the same string when trusted, already corrected, or the boot offset is unknown', () => {
    const trusted = JSON.stringify({ id: 'R', kind: 'reading', ts: 5, body: { device: 'd', point: 'p', value: 'untrusted', quality: 'good', ts: 5 } });
    expect(correctRecordJson(trusted, clock)).toBe(trusted);
    const otherBoot = JSON.stringify({ id: 'R', kind: 'reading', ts: 5, body: { device: 'd', point: 'p', value: 1, quality: 'good', ts: 5, clock: { state: 'untrusted', boot: 'b2' } } });
    expect(correctRecordJson(otherBoot, clock)).toBe(otherBoot);
    const plain = '{"id":"R","kind":"reading","ts":5,"body":{}}';
    expect(correctRecordJson(plain, clock)).toBe(plain);
  });
});

describe('createManualClock', () => {
  it('moves only when told; step moves the wall clock only', () => {
    const c = createManualClock({ wall: 10_000, mono: 5, trusted: false, boot: 'b' });
    expect([c.now(), c.mono(), c.flag()]).toEqual([10_000, 5, { state: 'untrusted', boot: 'b' }]);
    c.advance(100);
    c.step(-50);
    expect([c.now(), c.mono()]).toEqual([10_050, 105]);
    c.setTrusted(true);
    expect(c.flag()).toBeUndefined();
  });
});
