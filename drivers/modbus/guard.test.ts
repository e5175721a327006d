// The bus guards the Modbus framers: a reply that makes the parser throw (injected here: the
// real frame.ts with scanRtuResponse / parseResponsePdu wrapped to throw on seeded calls) is a
// `protocol` fault of the device that owns the exchange, the framer starts clean, and polling
// goes on. RTU over a socat pty and TCP against modbus-serial's ServerTCP.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { socatAvailable, startPtyPair } from '../../test/helpers/socat.ts';
import { deviceConfig, recordingCtx, until } from '../../test/support/modbus/ctx.ts';
import { createImage, startRtuSim, startTcpSim } from '../../test/support/modbus/sim.ts';
import { createPrng } from '../../runtime/prng.ts';
import { builtinDrivers } from '../index.ts';
import type { ModbusDriver } from './device.ts';
import type { ModbusConfigInput } from './schema.ts';

const inject = vi.hoisted(() => ({ armed: false, rate: 0.3, rand: Math.random, thrown: 0 }));
const maybeThrow = () => {
  if (inject.armed && inject.rand() < inject.rate) {
    inject.thrown++;
    throw new TypeError('injected parser failure');
  }
};
vi.mock(import('./frame.ts'), async (original) => {
  const m = await original();
  return {
    ...m,
    scanRtuResponse: (...a: Parameters<typeof m.scanRtuResponse>) => (maybeThrow(), m.scanRtuResponse(...a)),
    parseResponsePdu: (...a: Parameters<typeof m.parseResponsePdu>) => (maybeThrow(), m.parseResponsePdu(...a)),
  };
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  inject.armed = false;
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});

const img = () => createImage({ holding: { 0: [1234, 0xfff6] } });
const points = [{ name: 'u', table: 'holding' as const, address: 0 }, { name: 'i', table: 'holding' as const, address: 1, type: 'int16' as const }];

async function fuzz(input: ModbusConfigInput, seed: number): Promise<void> {
  inject.rand = createPrng(seed);
  inject.thrown = 0;
  const rec = recordingCtx();
  const def = builtinDrivers().find((d) => d.name === 'modbus')!;
  const dev = (await def.create(deviceConfig('dut', { ...input, interval: '20ms', timeout: '200ms', retries: 0, maxBackoff: '1s', offlineFailures: 1000, points }) as never, rec.ctx)) as ModbusDriver;
  cleanup.push(() => dev.stop());
  await dev.start();
  await until(() => rec.readings.length >= 4, 5000, 'first readings');
  inject.armed = true;
  await until(() => inject.thrown >= 20, 10_000, '20 injected parser failures');
  inject.armed = false;
  const before = rec.readings.length;
  await until(() => rec.readings.length >= before + 10, 5000, 'clean readings after the fuzz');

  const h = dev.health();
  expect(h.errorsByKind.protocol).toBeGreaterThanOrEqual(inject.thrown * 0.9); // a throw in a retried scan may end as one fault
  expect(h.errorsByKind.protocol).toBeLessThanOrEqual(inject.thrown);
  expect(rec.events.some((e) => e.type === 'device.error' && e.data.kind === 'protocol' && String(e.data.message).includes('injected parser failure'))).toBe(true);
  // A failed parse never becomes a reading.
  for (const r of rec.readings) expect(r.value).toBe(r.point === 'u' ? 1234 : -10);
}

describe('modbus framer guard', () => {
  it.skipIf(!socatAvailable())('RTU over a serial line: a throwing parser is a protocol fault, the framer resets, polling goes on', async () => {
    const pair = await startPtyPair();
    cleanup.push(() => pair.stop());
    const image = img();
    const sim = await startRtuSim(pair.b, 38400, (u) => (u === 3 ? image : undefined));
    cleanup.push(() => sim.close());
    await fuzz({ transport: { type: 'rtu', port: pair.a, baudRate: 38400 }, unitId: 3 }, 0xbad1);
  });

  it('Modbus TCP: a throwing parser is a protocol fault, the stream resets, polling goes on', async () => {
    const image = img();
    const s = await startTcpSim((u) => (u === 1 ? image : undefined));
    cleanup.push(() => s.close());
    await fuzz({ transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, unitId: 1 }, 0xbad2);
  });
});
