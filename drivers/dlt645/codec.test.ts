// Golden tests of the DL/T 645-2007 codec against frames checked by hand and frames copied from
// public examples, plus the stream deframer on split, noisy and corrupt input.
import { describe, expect, it } from 'vitest';
import {
  BROADCAST_ADDRESS, FrameError, addressFromBytes, addressToBytes, checksum, createFrameParser, decodeFrame,
  describeErrorByte, diFromBytes, diToBytes, encodeFrame, formatDi, type ParseEvent,
} from './codec.ts';
import { DLT645_POINTS, ValueError, decodeValue, encodeValue, pointByName, pointDefSchema } from './points.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const frames = (evs: ParseEvent[]) => evs.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));
const def = (name: string) => pointByName(name)!;

describe('frame encoding (golden)', () => {
  it('encodes a read of 00 01 00 00 from meter 000000001234, checksum checked by hand', () => {
    // 68+34+12+00+00+00+00+68 = 0x116; +11 +04 = 0x12B; +33+33+34+33 = 0x1F8 -> CS F8.
    const golden = hex('FE FE FE FE 68 34 12 00 00 00 00 68 11 04 33 33 34 33 F8 16');
    expect(encodeFrame({ address: '000000001234', control: 0x11, data: diToBytes('00010000') }, { preamble: 4 })).toEqual(golden);
    const f = decodeFrame(golden);
    expect(f).toEqual({ address: '000000001234', control: 0x11, data: hex('00 00 01 00') });
    expect(diFromBytes(f.data)).toBe('00010000');
  });

  it('matches public example frames', () => {
    // Broadcast read-address, and a read/reply of 00 01 00 00 (1206.42 kWh) from meter
    // 000102030425: https://553668.com/manong/786292.html (also m.icode9.com/content-4-712469.html).
    expect(encodeFrame({ address: BROADCAST_ADDRESS, control: 0x13 })).toEqual(hex('68 AA AA AA AA AA AA 68 13 00 DF 16'));
    expect(encodeFrame({ address: '000102030425', control: 0x11, data: diToBytes('00010000') })).toEqual(hex('68 25 04 03 02 01 00 68 11 04 33 33 34 33 E1 16'));
    const reply = decodeFrame(hex('68 25 04 03 02 01 00 68 91 08 33 33 34 33 75 39 45 33 8B 16'));
    expect(reply.address).toBe('000102030425');
    expect(reply.control).toBe(0x91);
    expect(diFromBytes(reply.data)).toBe('00010000');
    expect(decodeValue(def('energy_total'), reply.data.subarray(4))).toBe(1206.42);
    // Read of 00 00 00 00 from 652022122003 and its all-zero reply; a voltage block reply with a
    // preamble (02 01 FF 00: A 0 V, B 0 V, C 239.4 V): https://mbb.eet-china.com/forum/topic/114707_1_1.html
    expect(encodeFrame({ address: '652022122003', control: 0x11, data: diToBytes('00000000') })).toEqual(hex('68 03 20 12 22 20 65 68 11 04 33 33 33 33 8D 16'));
    const zero = decodeFrame(hex('68 03 20 12 22 20 65 68 91 08 33 33 33 33 33 33 33 33 DD 16'));
    expect(decodeValue(def('energy_combined'), zero.data.subarray(4))).toBe(0);
    const block = decodeFrame(hex('FE FE FE FE 68 18 20 12 22 20 65 68 91 0A 33 32 34 35 33 33 33 33 C7 56 13 16'));
    expect(diFromBytes(block.data)).toBe('0201FF00');
    expect(decodeValue(def('voltage_c'), block.data.subarray(8, 10))).toBe(239.4);
  });

  it('decodes the reply shown in docs/drivers/dlt645.md (hand-checked)', () => {
    // 1234.56 -> BCD 00 12 34 56, low byte first 56 34 12 00, +33: 89 67 45 33.
    // CS: 0x116 + 91 + 08 = 0x1AF; + 33+33+34+33 = 0x27C; + 89+67+45+33 = 0x3E4 -> E4.
    const f = decodeFrame(hex('68 34 12 00 00 00 00 68 91 08 33 33 34 33 89 67 45 33 E4 16'));
    expect(decodeValue(def('energy_total'), f.data.subarray(4))).toBe(1234.56);
  });

  it('decodes an error reply and a read-address reply (hand-checked)', () => {
    // Error 0x02 (+33 = 35): 0x116 + D1 + 01 + 35 = 0x21D -> CS 1D.
    const err = decodeFrame(hex('68 34 12 00 00 00 00 68 D1 01 35 1D 16'));
    expect(err).toEqual({ address: '000000001234', control: 0xd1, data: Buffer.from([0x02]) });
    expect(describeErrorByte(err.data[0])).toEqual(['no data requested']);
    // Read-address reply: data = address bytes + 33: 0x116 + 93 + 06 + 67 + 45 + 4*33 = 0x327 -> CS 27.
    const addr = decodeFrame(hex('68 34 12 00 00 00 00 68 93 06 67 45 33 33 33 33 27 16'));
    expect(addressFromBytes(addr.data)).toBe('000000001234');
  });

  it('names every error bit', () => {
    expect(describeErrorByte(0x7f)).toEqual([
      'other error', 'no data requested', 'password error or unauthorized', 'baud rate cannot be changed',
      'annual time zones over limit', 'daily time slots over limit', 'rates over limit',
    ]);
    expect(describeErrorByte(0x04)).toEqual(['password error or unauthorized']);
  });

  it('converts addresses and DIs', () => {
    expect(addressToBytes('000000001234')).toEqual(hex('34 12 00 00 00 00'));
    expect(() => addressToBytes('1234')).toThrow(/12 digits/);
    expect(() => addressToBytes('00000000123x')).toThrow(/invalid DL\/T 645 address/);
    expect(diToBytes('02800002')).toEqual(hex('02 00 80 02'));
    expect(formatDi('02010100')).toBe('02 01 01 00');
    expect(checksum(hex('68 AA AA AA AA AA AA 68 13 00'), 0, 10)).toBe(0xdf);
  });

  it('rejects bad frames with the byte offset', () => {
    const bad = (s: string) => {
      try {
        decodeFrame(hex(s));
      } catch (e) {
        return e as FrameError;
      }
      throw new Error('decoded');
    };
    expect(bad('68 25 04 03 02 01 00 68 11 04 33 33 34 33 E2 16')).toMatchObject({ kind: 'checksum', offset: 14, address: '000102030425' });
    expect(bad('68 25 04 03 02 01 00 68 11 04 33 33 34 33 E1 17')).toMatchObject({ kind: 'end', offset: 15 });
    expect(bad('68 25 04 03 02 01 00 68 11 04 33 33')).toMatchObject({ kind: 'format', message: expect.stringMatching(/truncated/) });
    expect(bad('68 25 04 03 02 01 00 69 11 04')).toMatchObject({ kind: 'format', offset: 7 });
    expect(bad('FE FE 12')).toMatchObject({ kind: 'format', offset: 2 });
    expect(bad('68 AA AA AA AA AA AA 68 13 00 DF 16 00')).toMatchObject({ kind: 'format', offset: 12 });
    expect(bad('68 25 04 03 02 01 00 68 11 04 33 33 34 33 E2 16').message).toMatch(/checksum 0xE2 does not match computed 0xE1 \(byte offset 14\)/);
  });
});

describe('values (DI table)', () => {
  it('is valid data with unique names and DIs', () => {
    for (const p of DLT645_POINTS) pointDefSchema.parse(p);
    expect(new Set(DLT645_POINTS.map((p) => p.name)).size).toBe(DLT645_POINTS.length);
    expect(new Set(DLT645_POINTS.map((p) => p.di)).size).toBe(DLT645_POINTS.length);
    expect(def('voltage_b')).toMatchObject({ di: '02010200', unit: 'V', bytes: 2, decimals: 1, signed: false });
    expect(def('current_c')).toMatchObject({ di: '02020300', unit: 'A', bytes: 3, decimals: 3, signed: true });
    expect(def('frequency')).toMatchObject({ di: '02800002', unit: 'Hz', bytes: 2, decimals: 2 });
  });

  it('scales BCD with the sign bit (hand-encoded bytes)', () => {
    expect(decodeValue(def('voltage_a'), hex('01 22'))).toBe(220.1);
    expect(decodeValue(def('current_a'), hex('34 12 80'))).toBe(-1.234);
    expect(decodeValue(def('current_a'), hex('34 12 00'))).toBe(1.234);
    expect(decodeValue(def('power_total'), hex('56 34 92'))).toBe(-12.3456);
    expect(decodeValue(def('pf_total'), hex('85 09'))).toBe(0.985);
    expect(decodeValue(def('pf_total'), hex('00 90'))).toBe(-1);
    expect(decodeValue(def('frequency'), hex('00 50'))).toBe(50);
    expect(decodeValue(def('energy_combined'), hex('99 99 99 79'))).toBe(799999.99); // largest signed XXXXXX.XX
    expect(decodeValue(def('energy_combined'), hex('00 00 00 80'))).toBe(0);
    expect(encodeValue(def('current_a'), -1.234)).toEqual(hex('34 12 80'));
    expect(encodeValue(def('energy_total'), 1206.42)).toEqual(hex('42 06 12 00'));
  });

  it('reports non-BCD bytes and wrong lengths with the offset', () => {
    expect(() => decodeValue(def('voltage_a'), hex('0A 22'))).toThrow(ValueError);
    let caught: unknown;
    try {
      decodeValue(def('voltage_a'), hex('01 F2'));
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ offset: 1, message: 'value byte 1 (0xF2) of voltage_a is not BCD' });
    expect(() => decodeValue(def('voltage_a'), hex('01'))).toThrow(/needs 2 bytes, got 1/);
    expect(() => encodeValue(def('voltage_a'), 10000)).toThrow(RangeError);
    expect(() => encodeValue(def('current_a'), 800)).toThrow(RangeError);
    expect(() => encodeValue(def('voltage_a'), -1)).toThrow(/unsigned/);
  });
});

describe('frame parser (stream)', () => {
  const req = encodeFrame({ address: '000000001234', control: 0x11, data: diToBytes('00010000') }, { preamble: 4 });
  const reply = hex('68 25 04 03 02 01 00 68 91 08 33 33 34 33 75 39 45 33 8B 16');

  it('assembles a frame fed one byte at a time, preamble not counted as garbage', () => {
    const p = createFrameParser();
    const evs: ParseEvent[] = [];
    for (const b of req) evs.push(...p.push(Buffer.from([b])));
    expect(evs).toEqual([{ type: 'frame', frame: decodeFrame(req) }]);
    expect(p.pending()).toBe(0);
  });

  it('skips and counts garbage, reports a bad checksum with the meter address, and resyncs', () => {
    const p = createFrameParser();
    const corrupt = Buffer.from(reply);
    corrupt[12] ^= 0x01;
    const evs = p.push(Buffer.concat([hex('00 11 22'), corrupt, hex('FE FE'), reply]));
    expect(evs[0]).toEqual({ type: 'garbage', bytes: 3 });
    expect(evs[1]).toMatchObject({ type: 'bad-frame', error: { kind: 'checksum', address: '000102030425', offset: 21 } });
    expect(frames(evs)).toEqual([decodeFrame(reply)]);
    const garbage = evs.filter((e) => e.type === 'garbage').reduce((n, e) => n + (e.type === 'garbage' ? e.bytes : 0), 0);
    expect(garbage).toBe(3 + reply.length - 1); // the corrupt frame's bytes after its start are garbage too
  });

  it('does not wait on a false header when a real frame follows', () => {
    const p = createFrameParser();
    // 68 xx xx xx xx xx xx 68 with a length of 150: would swallow the real reply if trusted.
    const evs = p.push(Buffer.concat([hex('68 01 02 03 04 05 06 68 11 96'), reply]));
    expect(frames(evs)).toEqual([decodeFrame(reply)]);
    expect(p.pending()).toBe(0);
  });

  it('holds a truncated frame as pending and drops it on reset', () => {
    const p = createFrameParser();
    expect(p.push(reply.subarray(0, 13))).toEqual([]);
    expect(p.pending()).toBe(13);
    expect(p.reset()).toBe(13);
    expect(frames(p.push(reply))).toHaveLength(1);
  });
});
