import { describe, expect, it } from 'vitest';
import { createBus } from '../../runtime/bus.ts';
import { createManualClock } from '../../test/helpers/clock.ts';
import { silentLog } from '../../runtime/log.ts';
import type { Reading, WaysideEvent } from '../../runtime/types.ts';
import { createDeviceMonitor } from './device-monitor.ts';
import { clockIds } from '../../runtime/ids.ts';

function setup() {
  const log = silentLog();
  const clock = createManualClock();
  const bus = createBus(log);
  const events: WaysideEvent[] = [];
  const readings: Reading[] = [];
  bus.on('event', 't', (e) => events.push(e));
  bus.on('reading', 't', (r) => readings.push(r));
  const m = createDeviceMonitor({ bus, log, clock, newId: clockIds(clock) }, { device: 'meter-1', driver: 'modbus' }, { offlineAfter: 3, maxBackoffMs: 8000 });
  return { m, events, readings, clock };
}

describe('device monitor', () => {
  it('walks starting -> online -> degraded -> offline -> online with one raise and one clear', () => {
    const { m, events, clock } = setup();
    expect(m.state()).toBe('starting');
    m.ok();
    expect(m.state()).toBe('online');
    m.fail('timeout', new Error('no answer in 1000 ms'));
    expect(m.state()).toBe('degraded');
    m.fail('crc', new Error('bad CRC'));
    expect(events).toEqual([]);
    m.fail('timeout', new Error('no answer in 1000 ms'));
    expect(m.state()).toBe('offline');
    m.fail('timeout', new Error('no answer in 1000 ms'));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'device.fault', device: 'meter-1', state: 'raise', data: { kind: 'timeout', failures: 3 } });
    clock.advance(5000);
    m.ok();
    expect(m.state()).toBe('online');
    expect(events[1]).toMatchObject({ type: 'device.fault', state: 'clear', data: { recovered: true, offlineMs: 5000 } });
    expect(m.health()).toMatchObject({ errors: 4, errorsByKind: { timeout: 3, crc: 1 }, consecutiveFailures: 0, lastError: 'timeout: no answer in 1000 ms' });
  });

  it('backs off exponentially while failing, capped, and returns to the interval on success', () => {
    const { m } = setup();
    expect(m.nextDelay(1000)).toBe(1000);
    for (let i = 0; i < 3; i++) m.fail('io', new Error('port gone'));
    const first = m.nextDelay(1000);
    expect(first).toBeGreaterThanOrEqual(1600);
    expect(first).toBeLessThanOrEqual(2400);
    for (let i = 0; i < 20; i++) m.fail('io', new Error('port gone'));
    expect(m.nextDelay(1000)).toBeLessThanOrEqual(8000 * 1.2);
    m.ok();
    expect(m.nextDelay(1000)).toBe(1000);
  });

  it('emits readings stamped with the device and counts them', () => {
    const { m, readings } = setup();
    m.reading({ point: 'voltage_a', value: 230.1, unit: 'V' });
    expect(readings[0]).toMatchObject({ device: 'meter-1', point: 'voltage_a', value: 230.1, unit: 'V', quality: 'good' });
    expect(m.health().readings).toBe(1);
    expect(m.health().lastReadingTs).toBe(readings[0].ts);
  });
});
