// The staged rollout logic: stage plans, the stop rule, mid-stage stops, skipped gateways and the
// tally, with a deployOne that answers from a table (the logic under test has no I/O).
import { describe, expect, it } from 'vitest';
import { failureRate, mapLimit, planStages, runRollout, tallyOf, type Outcome, type OutcomeStatus } from './rollout.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `gw-${i}`);
const answer = (table: Record<string, OutcomeStatus>, order: string[] = []) => async (gw: string): Promise<Outcome> => {
  order.push(gw);
  await new Promise((r) => setTimeout(r, 1));
  return { gw, status: table[gw] ?? 'confirmed', version: 7, ms: 1 };
};

describe('planStages', () => {
  it('puts one canary first, then 10 % of the rest, then the rest', () => {
    const stages = planStages(ids(100));
    expect(stages.map((s) => s.length)).toEqual([1, 10, 89]);
    expect(stages.flat()).toEqual(ids(100));
  });
  it('takes the canary count and steps given, and leaves out empty stages', () => {
    expect(planStages(ids(10), { canary: 2, steps: [0.25, 0.5] }).map((s) => s.length)).toEqual([2, 2, 4, 2]);
    expect(planStages(ids(2)).map((s) => s.length)).toEqual([1, 1]);
    expect(planStages(ids(1))).toEqual([['gw-0']]);
    expect(planStages(ids(3), { canary: 0 }).map((s) => s.length)).toEqual([1, 2]);
    expect(planStages(ids(3), { canary: 9 })).toEqual([ids(3)]);
    expect(planStages([])).toEqual([]);
    expect(() => planStages(ids(3), { steps: [1.5] })).toThrow(/fraction/);
  });
});

describe('runRollout', () => {
  it('deploys every stage in order when all confirm', async () => {
    const order: string[] = [];
    const r = await runRollout(planStages(ids(12)), answer({}, order), { version: 7, maxFailureRate: 0.2, concurrency: 1 });
    expect(r.stoppedEarly).toBeUndefined();
    expect(order).toEqual(ids(12));
    expect(tallyOf(r.outcomes)).toEqual({ confirmed: 12, failed: 0, skipped: 0 });
  });

  it('stops after a canary that rolled back: the rest are skipped, none of them deployed', async () => {
    const order: string[] = [];
    const progress: Outcome[] = [];
    const r = await runRollout(planStages(ids(5)), answer({ 'gw-0': 'rolled_back' }, order), { version: 7, maxFailureRate: 0.2, onProgress: (o) => progress.push(o) });
    expect(order).toEqual(['gw-0']);
    expect(r.stoppedEarly).toMatch(/canary stage: 1 of 1 gateways failed/);
    expect(r.outcomes.map((o) => o.status)).toEqual(['rolled_back', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(r.outcomes[1].reason).toMatch(/^stopped early/);
    expect(progress).toHaveLength(5);
    expect(tallyOf(r.outcomes)).toEqual({ confirmed: 0, failed: 1, skipped: 4 });
  });

  it('goes on while a stage stays within the rate, counting timeouts and failures but not refusals', async () => {
    // 20 gateways: canary 1, stage of 2, stage of 17; 3 of the last 17 fail (17.6 % <= 20 %).
    const table: Record<string, OutcomeStatus> = { 'gw-1': 'refused', 'gw-2': 'refused', 'gw-5': 'timeout', 'gw-6': 'failed', 'gw-7': 'rolled_back' };
    const r = await runRollout(planStages(ids(20)), answer(table), { version: 7, maxFailureRate: 0.2 });
    expect(r.stoppedEarly).toBeUndefined();
    expect(tallyOf(r.outcomes)).toEqual({ confirmed: 15, failed: 5, skipped: 0 });
  });

  it('stops a stage midway once its harmful outcomes alone exceed the rate', async () => {
    // One stage of 10 run one at a time, limit 10 %: the second failure (2/10 > 0.1) stops it.
    const order: string[] = [];
    const table: Record<string, OutcomeStatus> = { 'gw-0': 'rolled_back', 'gw-1': 'timeout' };
    const r = await runRollout([ids(10)], answer(table, order), { version: 7, maxFailureRate: 0.1, concurrency: 1 });
    expect(order).toEqual(['gw-0', 'gw-1']);
    expect(r.stoppedEarly).toMatch(/2 of 2 gateways failed/);
    expect(tallyOf(r.outcomes)).toEqual({ confirmed: 0, failed: 2, skipped: 8 });
  });

  it('with maxFailureRate 1 never stops', async () => {
    const r = await runRollout(planStages(ids(4)), answer({ 'gw-0': 'failed', 'gw-1': 'failed' }), { version: 7, maxFailureRate: 1 });
    expect(r.stoppedEarly).toBeUndefined();
    expect(r.outcomes.filter((o) => o.status === 'skipped')).toHaveLength(0);
    await expect(runRollout([], answer({}), { version: 1, maxFailureRate: 2 })).rejects.toThrow(/0\.\.1/);
  });
});

describe('helpers', () => {
  it('failureRate ignores skipped gateways', () => {
    const o = (status: OutcomeStatus): Outcome => ({ gw: 'x', status, version: 1, ms: 0 });
    expect(failureRate([o('confirmed'), o('rolled_back'), o('skipped'), o('skipped')])).toBe(0.5);
    expect(failureRate([o('skipped')])).toBe(0);
  });
  it('mapLimit keeps at most `limit` running and the input order', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit(ids(9), 3, async (gw, i) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5 + (i % 3)));
      running--;
      return gw.toUpperCase();
    });
    expect(peak).toBe(3);
    expect(out).toEqual(ids(9).map((g) => g.toUpperCase()));
  });
});
