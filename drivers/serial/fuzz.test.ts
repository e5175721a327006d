// Seeded fuzz through a real pty pair: random bytes and mutated frames (one byte changed, or
// cut short) interleaved with good frames. Every good frame no mutation touched is decoded,
// nothing throws, the driver keeps running and counts what it dropped.
import { afterEach, describe, expect, it } from 'vitest';
import { createBus } from '../../runtime/bus.ts';
import { silentLog } from '../../runtime/log.ts';
import type { Clock, Reading } from '../../runtime/types.ts';
import { startPtyPair } from '../../test/helpers/socat.ts';
import { builtinDrivers } from '../index.ts';
import { serialSchema, type SerialConfig, type SerialDriver } from './index.ts';
import { nmeaSentence, openPeer, pms5003Frame, prng } from '../../test/support/serial/frames.ts';
import { clockIds } from '../../runtime/ids.ts';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const clock: Clock = { now: () => Date.now(), mono: () => performance.now(), trusted: () => true, flag: () => undefined };

async function run(fields: Record<string, unknown>, stream: Buffer, sentinel: (r: Reading) => boolean) {
  const pair = await startPtyPair();
  cleanup.push(() => pair.stop());
  const log = silentLog();
  const bus = createBus(log);
  const readings: Reading[] = [];
  bus.on('reading', 'test', (r) => readings.push(r));
  const cfg = { id: 'fuzz', driver: 'serial', ...serialSchema.parse({ port: pair.a, ...fields }) } as SerialConfig;
  const def = builtinDrivers().find((d) => d.name === 'serial')!;
  const driver = (await def.create(cfg as never, { bus, log, clock, newId: clockIds(clock) })) as SerialDriver;
  await driver.start();
  cleanup.push(() => driver.stop());
  const peer = await openPeer(pair.b);
  cleanup.push(() => peer.close());
  // Wait until the agent side is open (the health monitor counts opens).
  for (let i = 0; driver.health().framing.opens === 0; i++) {
    if (i > 200) throw new Error('port never opened');
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let i = 0; i < stream.length; i += 512) await peer.write(stream.subarray(i, i + 512));
  const end = Date.now() + 10_000;
  while (!readings.some(sentinel)) {
    if (Date.now() > end) throw new Error('sentinel frame never decoded');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { readings, health: driver.health() };
}

/** One byte changed (any change breaks the checksum, header, length or footer) or cut short. */
function mutate(frame: Buffer, rand: () => number, keepTail = 0): Buffer {
  const m = Buffer.from(frame);
  if (rand() < 0.5) {
    m[Math.floor(rand() * (m.length - keepTail))] ^= 1 + Math.floor(rand() * 255);
    return m;
  }
  return m.subarray(0, 1 + Math.floor(rand() * (m.length - 1 - keepTail)));
}

describe('serial fuzz over a pty (seeded)', () => {
  it('PMS5003: random bytes and mutated frames between good frames', async () => {
    const rand = prng(5003);
    const frame = (i: number) => pms5003Frame({ pm1_0_std: 1, pm2_5_std: 2, pm10_std: 3, pm1_0: 4, pm2_5: i % 500, pm10: 6, n0_3: i, n0_5: 0, n1_0: 0, n2_5: 0, n5_0: 0, n10: 0 });
    const chunks: Buffer[] = [];
    const expected: number[] = [];
    for (let i = 1; i <= 600; i++) {
      const roll = rand();
      if (roll < 0.5) {
        chunks.push(frame(i));
        expected.push(i);
      } else if (roll < 0.75) chunks.push(Buffer.from(Array.from({ length: Math.floor(rand() * 100) }, () => Math.floor(rand() * 256))));
      else chunks.push(mutate(frame(i), rand));
    }
    chunks.push(frame(9999));
    const { readings, health } = await run({ profile: 'pms5003' }, Buffer.concat(chunks), (r) => r.point === 'n0_3' && r.value === 9999);
    expect(readings.filter((r) => r.point === 'n0_3').map((r) => r.value)).toEqual([...expected, 9999]);
    expect(health.framing.crcErrors + health.framing.protocolErrors).toBeGreaterThan(50);
    expect(health.framing.droppedBytes).toBeGreaterThan(1000);
    expect(health.state).toBe('online');
  });

  it('NMEA: random bytes and mutated sentences between good GGA sentences', async () => {
    const rand = prng(183);
    const gga = (i: number) => nmeaSentence(`GPGGA,1200${String(i % 60).padStart(2, '0')},4807.038,N,01131.000,E,1,${i % 13},0.9,${i}.5,M,46.9,M,,`);
    const chunks: Buffer[] = [];
    const expected: number[] = [];
    let sinceNewline = 0; // a good sentence on an overlong line is dropped with it, by design
    for (let i = 1; i <= 600; i++) {
      const roll = rand();
      let c: Buffer;
      if (roll < 0.5) {
        c = Buffer.from(gga(i));
        if (sinceNewline + c.length - 1 <= 256) expected.push(i + 0.5);
      } else if (roll < 0.75) c = Buffer.from(Array.from({ length: Math.floor(rand() * 60) }, () => Math.floor(rand() * 256)));
      else c = mutate(Buffer.from(gga(i)), rand, 2); // the CRLF survives a one-byte change
      const nl = c.lastIndexOf(0x0a);
      sinceNewline = nl < 0 ? sinceNewline + c.length : c.length - nl - 1;
      chunks.push(c);
    }
    chunks.push(Buffer.from(`\r\n${gga(9999)}`));
    const { readings, health } = await run({ format: { type: 'nmea' } }, Buffer.concat(chunks), (r) => r.point === 'alt' && r.value === 9999.5);
    expect(readings.filter((r) => r.point === 'alt').map((r) => r.value)).toEqual([...expected, 9999.5]);
    expect(expected.length).toBeGreaterThan(250);
    expect(health.framing.crcErrors).toBeGreaterThan(20);
    expect(health.state).toBe('online');
  });
});
