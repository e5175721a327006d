// Pure protocol pieces: every type x order decoded from known register images, writes encode
// back to the same words, CRC16 against the spec's example, the RTU scanner resynchronising,
// and coalescing into the fewest requests.
import { describe, expect, it } from 'vitest';
import { decodeRegisters, encodeRegisters, toEngineering, type CodecPoint } from './codec.ts';
import { crc16, parseResponsePdu, rtuFrame, scanRtuResponse } from './frame.ts';
import { planReads } from './plan.ts';
import { pointSchema, type ModbusPoint } from './point-schema.ts';
import { DECODE_CASES } from '../../test/support/modbus/cases.ts';

const words = (ws: number[]) => Buffer.from(ws.flatMap((w) => [w >> 8, w & 0xff]));
const point = (c: Partial<CodecPoint>): CodecPoint => ({ name: 'p', table: 'holding', type: 'uint16', order: 'ABCD', scale: 1, offset: 0, ...c });

describe('codec', () => {
  it.each(DECODE_CASES.map((c) => [`${c.type} ${c.order}${c.bit !== undefined ? ` bit ${c.bit}` : ''} ${c.words.map((w) => w.toString(16)).join(' ')}`, c] as const))(
    'decodes %s',
    (_n, c) => {
      const p = point({ type: c.type, order: c.order, bit: c.bit, length: c.length });
      expect(toEngineering(p, decodeRegisters(p, words(c.words)))).toBe(c.value);
    },
  );

  it.each(DECODE_CASES.filter((c) => c.type !== 'bool' && c.type !== 'uint64' && !c.words.includes(0x2020)).map((c) => [`${c.type} ${c.order}`, c] as const))(
    'encodes %s to the same words',
    (_n, c) => {
      const p = point({ type: c.type, order: c.order, length: c.length });
      expect(encodeRegisters(p, c.value)).toEqual(words(c.words));
    },
  );

  it('applies scale and offset both ways without binary noise', () => {
    const p = point({ type: 'int16', scale: 0.1, offset: -40 });
    expect(toEngineering(p, decodeRegisters(p, words([631])))).toBe(23.1);
    expect(encodeRegisters(p, 23.1)).toEqual(words([631]));
    expect(() => encodeRegisters(point({ type: 'uint16' }), 70000)).toThrow(/does not fit uint16/);
  });

  it('float32 values read as their shortest decimal and NaN yields no value', () => {
    const p = point({ type: 'float32' });
    expect(toEngineering(p, decodeRegisters(p, words([0x4366, 0x199a])))).toBe(230.1);
    expect(toEngineering(p, decodeRegisters(p, words([0x7fc0, 0x0000])))).toBeUndefined();
  });
});

describe('frames', () => {
  it('computes the CRC of the spec example (01 03 00 00 00 0A -> C5 CD)', () => {
    const f = rtuFrame(1, Buffer.from([3, 0, 0, 0, 10]));
    expect(f.toString('hex')).toBe('01030000000ac5cd');
    expect(crc16(f)).toBe(0); // a frame with its CRC appended checks to zero
  });

  it('finds a response behind line noise and rejects a wrong CRC', () => {
    const req = { unitId: 7, fn: 3, address: 0, count: 2 };
    const resp = rtuFrame(7, Buffer.from([3, 4, 0, 1, 0, 2]));
    const noisy = Buffer.concat([Buffer.from([0x07, 0x03, 0xff, 0x00]), resp]);
    const s = scanRtuResponse(noisy, req);
    expect(s.skipped).toBe(4);
    expect(parseResponsePdu(req, s.pdu!)).toEqual(Buffer.from([0, 1, 0, 2]));
    const bad = Buffer.from(resp);
    bad[4] ^= 0x10;
    const b = scanRtuResponse(bad, req);
    expect([b.pdu, b.crcBad]).toEqual([undefined, true]);
    const t = scanRtuResponse(resp.subarray(0, 6), req);
    expect([t.pdu, t.pending]).toEqual([undefined, true]);
  });

  it('turns an exception response into a named, typed error', () => {
    const req = { unitId: 3, fn: 4, address: 100, count: 10 };
    expect(() => parseResponsePdu(req, Buffer.from([0x84, 0x02]))).toThrow(expect.objectContaining({
      kind: 'exception',
      exceptionCode: 2,
      message: 'unit 3 fc04 read input registers 100..109 (10 registers): exception 2 ILLEGAL DATA ADDRESS',
    }));
  });
});

describe('coalescing', () => {
  const pts = (list: object[]): ModbusPoint[] => list.map((p, i) => pointSchema.parse({ name: `p${i}`, ...p }));
  const shape = (ps: ModbusPoint[], lim = { maxRegisters: 125, maxBits: 2000, maxGap: 10 }) =>
    planReads(ps, lim).map((b) => `${b.fn}:${b.address}+${b.count}`);

  it('merges neighbours, bridges small gaps, never mixes function codes', () => {
    const ps = pts([
      { table: 'holding', address: 0 }, { table: 'holding', address: 1, type: 'float32' }, { table: 'holding', address: 12 },
      { table: 'holding', address: 40 }, { table: 'input', address: 0 }, { table: 'input', address: 1 },
      { table: 'coil', address: 0 }, { table: 'coil', address: 30 }, { table: 'discrete', address: 5 },
    ]);
    expect(shape(ps)).toEqual(['1:0+31', '2:5+1', '3:0+13', '3:40+1', '4:0+2']);
    expect(shape(ps, { maxRegisters: 125, maxBits: 2000, maxGap: 0 })).toEqual(['1:0+1', '1:30+1', '2:5+1', '3:0+3', '3:12+1', '3:40+1', '4:0+2']);
  });

  it('honours the per-device register cap and the 125/2000 limits', () => {
    const regs = pts(Array.from({ length: 300 }, (_, i) => ({ table: 'input', address: i })));
    expect(shape(regs)).toEqual(['4:0+125', '4:125+125', '4:250+50']);
    expect(shape(regs, { maxRegisters: 16, maxBits: 2000, maxGap: 10 })).toHaveLength(19);
    const bits = pts(Array.from({ length: 2500 }, (_, i) => ({ table: 'coil', address: i })));
    expect(shape(bits)).toEqual(['1:0+2000', '1:2000+500']);
    // A 32-bit value never straddles two requests.
    const f = pts(Array.from({ length: 9 }, (_, i) => ({ table: 'holding', address: i * 2, type: 'float32' })));
    expect(shape(f, { maxRegisters: 5, maxBits: 2000, maxGap: 10 })).toEqual(['3:0+4', '3:4+4', '3:8+4', '3:12+4', '3:16+2']);
  });

  it('rejects a point larger than the per-request cap, naming it', () => {
    const ps = pts([{ table: 'holding', address: 0, type: 'string', length: 20 }]);
    expect(() => planReads(ps, { maxRegisters: 16, maxBits: 2000, maxGap: 10 })).toThrow(/point "p0" spans 20 registers, more than the 16/);
  });
});
