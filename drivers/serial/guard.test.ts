// The serial driver guards its decoder: a frame that makes the decoder throw (injected here: the
// real binary decoder wrapped to throw on seeded pushes) is a `protocol` fault of the device,
// the decoder starts clean, and later frames decode. Live: socat pty pair, PMS5003 frames.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPrng } from '../../runtime/prng.ts';
import type { Reading } from '../../runtime/types.ts';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { recordingCtx, until } from '../../test/support/modbus/ctx.ts';
import { openPeer, pms5003Frame } from '../../test/support/serial/frames.ts';
import { builtinDrivers } from '../index.ts';
import type { SerialDriver } from './index.ts';
import { serialSchema } from './schema.ts';

const inject = vi.hoisted(() => ({ armed: false, rand: Math.random, thrown: 0, resets: 0 }));
vi.mock(import('./binary.ts'), async (original) => {
  const m = await original();
  return {
    ...m,
    createBinaryDecoder: (...a: Parameters<typeof m.createBinaryDecoder>) => {
      const d = m.createBinaryDecoder(...a);
      return {
        ...d,
        push(chunk: Buffer) {
          if (inject.armed && inject.rand() < 0.4) {
            inject.thrown++;
            throw new RangeError('injected decoder failure');
          }
          return d.push(chunk);
        },
        reset() {
          inject.resets++;
          d.reset();
        },
      };
    },
  };
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  inject.armed = false;
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

const frame = (pm25: number) => pms5003Frame({ pm1_0_std: 1, pm2_5_std: 2, pm10_std: 3, pm1_0: 4, pm2_5: pm25, pm10: 6, n0_3: 0, n0_5: 0, n1_0: 0, n2_5: 0, n5_0: 0, n10: 0 });

describe.skipIf(!socatAvailable())('serial decoder guard', () => {
  it('counts a throwing decoder as a protocol fault, resets it, and decodes the next frames', async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const rec = recordingCtx();
    const def = builtinDrivers().find((d) => d.name === 'serial')!;
    const driver = (await def.create({ id: 'pms', driver: 'serial', ...serialSchema.parse({ port: pair.a, profile: 'pms5003' }) }, rec.ctx)) as SerialDriver;
    cleanup.push(() => driver.stop());
    await driver.start();
    await until(() => driver.health().framing.opens > 0, 5000, 'agent side open');
    const peer = await openPeer(pair.b);
    cleanup.push(() => peer.close());
    inject.rand = createPrng(0x5e1);
    inject.armed = true;
    const resets0 = inject.resets;
    for (let i = 0; inject.thrown < 10; i++) {
      if (i > 500) throw new Error('the injected decoder never threw');
      await peer.write(frame(i % 100));
      await new Promise((r) => setTimeout(r, 5));
    }
    inject.armed = false;
    await peer.write(frame(321));
    const pm = (r: Reading) => r.device === 'pms' && r.point === 'pm2_5';
    await until(() => rec.readings.some((r) => pm(r) && r.value === 321), 5000, 'a clean frame after the fuzz');
    const h = driver.health();
    expect(h.errorsByKind.protocol).toBe(inject.thrown);
    expect(inject.resets - resets0).toBeGreaterThanOrEqual(inject.thrown);
    expect(h.lastError).toMatch(/injected decoder failure/);
    // Nothing a throw cut short became a reading: every value is one the peer sent.
    for (const r of rec.readings.filter(pm)) expect(r.value === 321 || (r.value as number) < 100).toBe(true);
  });
});
