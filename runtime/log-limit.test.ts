import { describe, expect, it } from 'vitest';
import { createLogLimiter } from './log-limit.ts';

describe('log limiter', () => {
  it('lets N lines per interval through per key and reports what it held back in the next line', () => {
    let t = 0;
    const lim = createLogLimiter({ max: 2, intervalMs: 1_000, now: () => t });
    expect(lim.take('a')).toEqual({});
    expect(lim.take('a')).toEqual({});
    expect(lim.take('a')).toBeUndefined();
    expect(lim.take('a')).toBeUndefined();
    expect(lim.take('b')).toEqual({}); // keys are independent
    expect(lim.suppressed()).toBe(2);
    t = 999;
    expect(lim.take('a')).toBeUndefined();
    t = 1_000;
    expect(lim.take('a')).toEqual({ suppressed: 3 });
    expect(lim.take('a')).toEqual({});
    expect(lim.suppressed()).toBe(3);
  });

  it('forgets the oldest key beyond maxKeys, so keys built from input cannot grow memory', () => {
    const lim = createLogLimiter({ max: 1, intervalMs: 60_000, maxKeys: 2, now: () => 0 });
    lim.take('a');
    expect(lim.take('a')).toBeUndefined();
    lim.take('b');
    lim.take('c'); // evicts 'a'
    expect(lim.take('a')).toEqual({}); // a fresh slot
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => createLogLimiter({ max: 0, intervalMs: 1 })).toThrow(/max must be >= 1/);
  });
});
