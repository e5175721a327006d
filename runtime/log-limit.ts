// Rate limit for log lines that remote input can trigger (failed commands, refused requests):
// at most `max` lines per `intervalMs` per key; what was held back is counted, reported in the
// next line of that key and in a total for health.

export interface LogLimiter {
  /** undefined: stay silent. Otherwise log, adding `suppressed` (lines held back since the last one) when > 0. */
  take(key: string): { suppressed?: number } | undefined;
  /** Lines held back since the limiter was created, all keys. */
  suppressed(): number;
}

export interface LogLimitOptions {
  max: number;
  intervalMs: number;
  /** Keys tracked at once; the oldest is forgotten beyond this, so keys built from input cannot grow memory. */
  maxKeys?: number;
  /** Monotonic ms; real time by default so a test's frozen clock cannot open the gate. */
  now?: () => number;
}

interface Slot {
  start: number;
  count: number;
  held: number;
}

export function createLogLimiter(opts: LogLimitOptions): LogLimiter {
  if (!(opts.max >= 1) || !(opts.intervalMs > 0)) throw new Error(`log limiter: max must be >= 1 and intervalMs > 0 (got ${opts.max}, ${opts.intervalMs})`);
  const now = opts.now ?? (() => performance.now());
  const maxKeys = opts.maxKeys ?? 64;
  const slots = new Map<string, Slot>();
  let total = 0;

  return {
    take(key) {
      const t = now();
      let s = slots.get(key);
      if (!s) {
        if (slots.size >= maxKeys) slots.delete(slots.keys().next().value!);
        s = { start: t, count: 0, held: 0 };
        slots.set(key, s);
      } else if (t - s.start >= opts.intervalMs) {
        s.start = t;
        s.count = 0;
      }
      if (s.count >= opts.max) {
        s.held++;
        total++;
        return undefined;
      }
      s.count++;
      const held = s.held;
      s.held = 0;
      return held > 0 ? { suppressed: held } : {};
    },
    suppressed: () => total,
  };
}
