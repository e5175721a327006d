// The live bus under a fixed-seed (645) storm of line faults: replies flipped, cut, dropped,
// wrapped in noise, sent late or twice, for two meters sharing a port. No reading may carry a
// wrong value, every failure is counted by kind, and the meters read normally once it stops.
// The fault sequence is fixed; which exchange each fault hits depends on timing.
import { afterEach, describe, expect, it } from 'vitest';
import { A, B, closeLive, POINTS, startLive, until, sleep, VALUES, type Live } from '../../test/support/dlt645/live.ts';
import { createPrng } from '../../runtime/prng.ts';

let live: Live | undefined;
afterEach(async () => {
  await closeLive(live);
  live = undefined;
});

/** Fixed seed: the same sequence of line faults every run. */
const prng = createPrng;

describe('dlt645 live fuzz (seed 645)', () => {
  it('accepts only correct values whatever the line does to replies', async () => {
    live = await startLive([{ address: A, values: VALUES }, { address: B, values: { ...VALUES, voltage_a: 231.7 } }]);
    const l = live;
    const rand = prng(645);
    const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
    const actions: Record<string, number> = {};
    l.sim.setMangle((reply) => {
      const x = rand();
      const act = x < 0.4 ? 'pass' : x < 0.5 ? 'flip' : x < 0.6 ? 'cut' : x < 0.67 ? 'drop' : x < 0.77 ? 'noise-before' : x < 0.85 ? 'noise-after' : x < 0.92 ? 'late' : 'double';
      actions[act] = (actions[act] ?? 0) + 1;
      const r = Buffer.from(reply);
      switch (act) {
        case 'flip': r[Math.floor(rand() * r.length)] ^= 1 + Math.floor(rand() * 255); return r;
        case 'cut': return r.subarray(0, Math.floor(rand() * r.length));
        case 'drop': return null;
        case 'noise-before': return Buffer.concat([noise(1 + Math.floor(rand() * 30)), r]);
        case 'noise-after': return Buffer.concat([r, noise(1 + Math.floor(rand() * 30))]);
        case 'late': return { bytes: r, delayMs: 100 + Math.floor(rand() * 100) };
        case 'double': return Buffer.concat([r, r]);
        default: return r;
      }
    });
    const ma = await l.meter('meter-a', { address: A, points: POINTS, timeout: '80ms', interval: '100ms' });
    const mb = await l.meter('meter-b', { address: B, points: POINTS, timeout: '80ms', interval: '100ms' });
    await until(() => l.sim.requests() >= 150, 20_000, '150 requests');
    l.sim.setMangle(undefined);
    await sleep(300);
    const expectB: Record<string, number> = { ...VALUES, voltage_a: 231.7 };
    for (const r of l.readings) expect(r.value, `${r.device}/${r.point}`).toBe(r.device === 'meter-a' ? VALUES[r.point as keyof typeof VALUES] : expectB[r.point]);
    expect(l.readings.length).toBeGreaterThan(50);
    for (const m of [ma, mb]) {
      const h = m.health();
      const byKind = Object.values(h.errorsByKind).reduce((s, n) => s + (n ?? 0), 0);
      expect(h.errors).toBe(byKind);
      expect(h.errors).toBeGreaterThan(5);
      expect(h.state).not.toBe('stopped');
    }
    expect(Object.keys(actions).sort()).toEqual(['cut', 'double', 'drop', 'flip', 'late', 'noise-after', 'noise-before', 'pass']);
    // Both meters still answer normally once the line is clean.
    const n = l.readings.length;
    await until(() => l.readings.slice(n).some((r) => r.device === 'meter-a') && l.readings.slice(n).some((r) => r.device === 'meter-b'), 5000);
  }, 30_000);
});
