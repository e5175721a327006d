import { describe, expect, it } from 'vitest';
import { createBus } from './bus.ts';
import { createManualClock } from '../test/helpers/clock.ts';
import { emitEvent } from './events.ts';
import { silentLog } from './log.ts';
import type { WaysideEvent } from './types.ts';

function ctx(trusted = true) {
  const bus = createBus(silentLog());
  const seen: WaysideEvent[] = [];
  bus.on('event', 'test', (e) => seen.push(e));
  let n = 0;
  return { seen, ctx: { bus, clock: createManualClock({ wall: 1_767_225_600_000, trusted }), newId: () => `id-${++n}` } };
}

describe('emitEvent', () => {
  it('stamps the id from ctx.newId, the wall clock and the clock flag, and puts it on the bus', () => {
    const { seen, ctx: c } = ctx(false);
    const ev = emitEvent(c, { type: 'point.spike', device: 'd', point: 'p', severity: 'warning', data: { value: 9, previous: 1, limit: 5 } });
    expect(ev).toMatchObject({ id: 'id-1', type: 'point.spike', ts: 1_767_225_600_000, data: { value: 9 } });
    expect(ev.clock?.state).toBe('untrusted');
    expect(seen).toEqual([ev]);
  });

  it('takes user-defined types from config with free-form data', () => {
    const { seen, ctx: c } = ctx();
    const fromConfig: string = 'air.pm25_high';
    emitEvent(c, { type: fromConfig, severity: 'warning', state: 'raise', data: { rule: 'r1', value: 80, threshold: 50 } });
    expect(seen[0]).toMatchObject({ id: 'id-1', type: 'air.pm25_high', data: { rule: 'r1' } });
  });

  it('the compiler refuses unknown agent types and payloads that do not match (checked by tsc)', () => {
    const { seen, ctx: c } = ctx();
    // @ts-expect-error a typo in an agent namespace is not a user type
    emitEvent(c, { type: 'device.falt', severity: 'info', data: {} });
    // @ts-expect-error device.fault needs driver and failures
    emitEvent(c, { type: 'device.fault', severity: 'info', state: 'raise', data: { kind: 'timeout' } });
    expect(seen).toHaveLength(2); // at run time both still go out: the guard is the compiler's
  });
});
