// The DL/T 645 scanner against the meter simulator (test/support/dlt645) on a socat pty: one
// meter found by the broadcast alone; several meters whose broadcast replies collide found by
// the wildcard sweep (one collision narrowed to the second byte); an empty line ends in bounded
// time. Short listening windows keep the 100-address sweeps of this file quick.
import { afterEach, describe, expect, it } from 'vitest';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { addressMatches, createMeterSimulator, type MeterSimulator, type SimMeterSpec } from '../../test/support/dlt645/simulator.ts';
import { FN_READ_ADDRESS, FN_READ_DATA, CTRL_FN_MASK, type Frame } from './codec.ts';
import { dlt645Snippet, estimateDlt645Ms, scanDlt645 } from './scan.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

/** A pty with meters on its far side; every request the meters saw is kept (to prove: reads only). */
async function line(meters: SimMeterSpec[]): Promise<{ port: string; sim: MeterSimulator; functions: Set<number> }> {
  const pair = await startPtyPair();
  cleanup.push(() => pair.stop());
  const sim = createMeterSimulator({ path: pair.b, meters, latencyMs: 2 });
  await sim.start();
  cleanup.push(() => sim.stop());
  const functions = new Set<number>();
  sim.setMangle((reply: Buffer, req: Frame) => {
    functions.add(req.control & CTRL_FN_MASK);
    return reply;
  });
  return { port: pair.a, sim, functions };
}

const energy = { energy_total: 1206.42 };

describe('wildcard addresses', () => {
  it('match from the high end, AA standing for any two digits', () => {
    expect(addressMatches('AAAAAAAAAA34', '000000001234')).toBe(true);
    expect(addressMatches('AAAAAAAA1234', '000000001234')).toBe(true);
    expect(addressMatches('AAAAAAAA5634', '000000001234')).toBe(false);
    expect(estimateDlt645Ms({ bauds: [2400] }).perLevel).toBeGreaterThan(100 * 500);
  });
});

describe.skipIf(!socatAvailable())('dlt645 scan', () => {
  it('finds a lone meter with the broadcast read-address', async () => {
    const { port, functions } = await line([{ address: '000000001234', values: energy }]);
    const r = await scanDlt645({ port, bauds: [2400], timeoutMs: 150, preamble: 2 });
    expect(r.meters).toEqual([{ address: '000000001234', baudRate: 2400, parity: 'even', via: 'broadcast' }]);
    expect(r.settings).toEqual([expect.objectContaining({ broadcast: 'one', probes: 1 })]);
    expect([...functions]).toEqual([FN_READ_ADDRESS]);
    expect(dlt645Snippet(r, port)).toBe(`devices:\n  - id: meter-1234\n    driver: dlt645\n    port: ${JSON.stringify(port)}\n    baudRate: 2400\n    parity: even\n    address: "000000001234"\n`);
  });

  it('sweeps wildcard addresses when the broadcast replies collide', { timeout: 28_000 }, async () => {
    // 2134 and 5634 share their lowest byte (34): they collide again at AAAAAAAAAA34 and are told
    // apart one byte up. 5678 answers alone at AAAAAAAAAA78. One has no energy value: its error
    // reply carries its address all the same. (Not 1234 and 5634: 0x12 is a bit subset of 0x56,
    // so the simulator's OR of their replies is exactly 5634's frame, one meter capturing the
    // line, which hides the other: see docs/scan.md.)
    const { port, sim, functions } = await line([
      { address: '000000002134', values: energy },
      { address: '000000005634', values: energy },
      { address: '000000005678' },
    ]);
    const seen: string[] = [];
    const r = await scanDlt645({ port, bauds: [19200], timeoutMs: 80, preamble: 0, gapMs: 5, onProgress: (p) => seen.push(p.address) });
    expect(r.meters.map((m) => [m.address, m.via])).toEqual([['000000002134', 'sweep'], ['000000005634', 'sweep'], ['000000005678', 'sweep']]);
    expect(r.settings[0].broadcast).toBe('collision');
    // The broadcast, 100 addresses for the lowest byte, 100 under the colliding 34.
    expect(r.probes).toBe(201);
    expect(seen).toContain('AAAAAAAA2134');
    expect(seen).not.toContain('AAAAAAAA1278');
    expect(r.unresolved).toEqual([]);
    expect(sim.meter('000000005678').requests).toBe(1);
    expect([...functions].sort()).toEqual([FN_READ_DATA, FN_READ_ADDRESS]);
  });

  it('ends in bounded time on a line with nothing on it', async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const t0 = Date.now();
    const r = await scanDlt645({ port: pair.a, bauds: [1200, 2400, 4800, 9600], timeoutMs: 100 });
    expect(r.meters).toEqual([]);
    expect(r.settings.map((s) => s.broadcast)).toEqual(['silent', 'silent', 'silent', 'silent']);
    expect(r.probes).toBe(4);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
