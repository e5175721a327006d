// /metrics from the first scrape on: real process figures (no collector that starts at first
// scrape and reports CPU ~0, a loop lag of 9e9 s or NaN), counters typed counter and named
// `_total`, and the event-loop monitor sees a stall.
import { describe, expect, it } from 'vitest';
import { createClock } from './clock.ts';
import { createHealth } from './health.ts';
import { silentLog } from './log.ts';
import { startLoopMonitor } from './loop.ts';
import { exposition } from './metrics.ts';
import type { OutboxStats } from './types.ts';

const outbox: OutboxStats = { depth: 3, bytes: 300, oldestAgeMs: 1500, dropped: 2, droppedByReason: { full: 2 }, memoryHeld: 0, diskFull: false, fileBytes: 4096, appended: 5, acked: 2, reserve: 'held', setAside: 1, fsFreeBytes: 1 << 30 };

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe('metrics', () => {
  it('reports meaningful figures at the first scrape, counters as *_total', () => {
    busy(50); // some CPU spent before the first scrape, as an agent's start-up does
    const clock = createClock({ trust: 'always', log: silentLog() });
    const loop = startLoopMonitor();
    try {
      const health = createHealth({
        gateway: 'g', version: '0', stateDir: '/tmp', clock,
        loop: () => loop.stats(),
        outbox: () => outbox,
        uplink: () => ({ enabled: true, connected: false, reconnects: 1, connectFailures: 4, sent: 10, acked: 8 }),
        busErrors: () => 0,
        sections: () => [{ name: 'devices', health: () => ({ section: [{ device: 'm1', driver: 'modbus', state: 'online', errors: 2, readings: 7, errorsByKind: { timeout: 2 } }], problems: [] }) }],
      });
      const text = exposition(health.snapshot());
      expect(text).not.toMatch(/NaN|Inf/);
      const cpu = Number(/^wayside_process_cpu_seconds_total ([\d.e-]+)$/m.exec(text)?.[1]);
      expect(cpu).toBeGreaterThan(0.04);
      const p99 = Number(/^wayside_event_loop_delay_seconds\{quantile="0.99"\} ([\d.e-]+)$/m.exec(text)?.[1]);
      expect(p99).toBeGreaterThanOrEqual(0);
      expect(p99).toBeLessThan(1);
      // Every counter ends in _total; every sample belongs to a declared metric.
      const types = [...text.matchAll(/^# TYPE (\S+) (\w+)$/gm)].map((m) => [m[1], m[2]]);
      for (const [name, type] of types) expect(type === 'counter', name).toBe(name.endsWith('_total'));
      expect(text).toMatch(/^wayside_outbox_dropped_records_total\{reason="full"\} 2$/m);
      expect(text).toMatch(/^wayside_uplink_reconnects_total 1$/m);
      expect(text).toMatch(/^wayside_outbox_reserve_held 1$/m);
      expect(text).toMatch(/^wayside_outbox_set_aside_records 1$/m);
      expect(text).toMatch(/^wayside_uplink_connect_failures_total 4$/m);
      expect(text).toMatch(/^wayside_device_errors_by_kind_total\{device="m1",driver="modbus",kind="timeout"\} 2$/m);
      expect(text).toMatch(/^wayside_device_readings_total\{device="m1",driver="modbus"\} 7$/m);
    } finally {
      loop.stop();
      clock.stop();
    }
  });

  it('sees an event-loop stall in the delay figures', async () => {
    const loop = startLoopMonitor(60_000);
    try {
      await new Promise((r) => setTimeout(r, 50));
      busy(250);
      await new Promise((r) => setTimeout(r, 50));
      const s = loop.stats();
      expect(s.maxMs).toBeGreaterThanOrEqual(200);
      expect(s.p50Ms).toBeLessThan(50);
    } finally {
      loop.stop();
    }
  });
});
