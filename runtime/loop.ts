// Event-loop delay: field-bus reply timers, MQTT keepalive and commands share one loop with the
// outbox, so a stalled loop is a health problem. A histogram (perf_hooks) runs from agent start;
// figures cover the last complete window (10 s), so every reader sees the same numbers and the
// first read after start is already meaningful (the running window is used until one completes).
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopDelay {
  /** Percentiles and max of the event-loop delay in ms, over the last window. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Window length the figures cover, in ms. */
  windowMs: number;
}

export interface LoopMonitor {
  stats(): LoopDelay;
  stop(): void;
}

const WINDOW_MS = 10_000;
const RESOLUTION_MS = 10;

export function startLoopMonitor(windowMs = WINDOW_MS): LoopMonitor {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  let windowStart = performance.now();
  let last: LoopDelay | undefined;
  const read = (ms: number): LoopDelay => {
    // Before the first sample the histogram reports min/max sentinels and NaN: show zeros.
    if (h.count === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0, windowMs: Math.round(ms) };
    // The histogram includes the sampling resolution itself; subtract it to report delay only.
    const f = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
    return { p50Ms: f(h.percentile(50)), p99Ms: f(h.percentile(99)), maxMs: f(h.max), meanMs: f(h.mean), windowMs: Math.round(ms) };
  };
  const timer = setInterval(() => {
    const now = performance.now();
    last = read(now - windowStart);
    h.reset();
    windowStart = now;
  }, windowMs);
  timer.unref();
  return {
    stats: () => last ?? read(performance.now() - windowStart),
    stop() {
      clearInterval(timer);
      h.disable();
    },
  };
}
