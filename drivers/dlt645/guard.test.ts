// The bus guards the DL/T 645 framer: a reply that makes the frame parser throw (injected here:
// parsers the driver creates are wrapped to throw on seeded pushes; the simulator's stays real)
// is a `protocol` fault of the meter that owns the exchange, the parser starts clean, and the
// meter keeps being read with correct values. Live: socat pty pair and the meter simulator.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPrng } from '../../runtime/prng.ts';
import { A, closeLive, startLive, until, VALUES, type Live } from '../../test/support/dlt645/live.ts';
import { socatAvailable } from '../../test/helpers/socat.ts';

const inject = vi.hoisted(() => ({ capture: false, armed: false, rand: Math.random, thrown: 0 }));
vi.mock(import('./codec.ts'), async (original) => {
  const m = await original();
  return {
    ...m,
    createFrameParser: () => {
      const p = m.createFrameParser();
      if (!inject.capture) return p;
      return {
        ...p,
        push(chunk: Buffer) {
          if (inject.armed && inject.rand() < 0.3) {
            inject.thrown++;
            throw new RangeError('injected parser failure');
          }
          return p.push(chunk);
        },
      };
    },
  };
});

let live: Live | undefined;
afterEach(async () => {
  inject.armed = inject.capture = false;
  await closeLive(live);
  live = undefined;
});

describe.skipIf(!socatAvailable())('dlt645 framer guard', () => {
  it('counts a throwing parser as a protocol fault of the polled meter, resets it, and keeps reading', async () => {
    live = await startLive([{ address: A, values: VALUES }]);
    const l = live;
    inject.capture = true; // only the driver's parser, created when the first meter attaches
    inject.rand = createPrng(0x645);
    const m = await l.meter('meter-a', { address: A, points: ['voltage_a', 'frequency'], timeout: '400ms', maxBackoff: '1s' });
    await until(() => !!l.last('meter-a', 'frequency'));
    inject.armed = true;
    const errors = new Set<string>();
    await until(() => (errors.add(m.health().lastError ?? ''), inject.thrown >= 15), 10_000, '15 injected parser failures');
    inject.armed = false;
    const before = l.readings.length;
    await until(() => l.readings.length >= before + 6, 5000, 'clean readings after the fuzz');

    const h = m.health();
    // Each throw fails the exchange it hit; one on the tail of a reply whose exchange already
    // ended (split into chunks on a loaded machine) has nothing left to fail.
    expect(h.errorsByKind.protocol).toBeGreaterThanOrEqual(Math.floor(inject.thrown * 0.5));
    expect(h.errorsByKind.protocol).toBeLessThanOrEqual(inject.thrown);
    expect([...errors]).toContainEqual(expect.stringMatching(/^protocol: dlt645 device "meter-a" .*: reply could not be parsed: injected parser failure/));
    expect(m.health().state).toBe('online');
    for (const r of l.readings) expect(r.value).toBe(VALUES[r.point as keyof typeof VALUES]);
  });
});
