// The binary framer on its own: checksums against published vectors, the two built-in
// particulate profiles against frames built from their datasheets, resync after garbage, bad
// checksums and truncation, bounded buffering, and a seeded fuzz run.
import { describe, expect, it } from 'vitest';
import { createBinaryDecoder, readBinary } from './binary.ts';
import { computeChecksum, crc16Modbus, nmeaChecksum } from './checksum.ts';
import type { DecodeResult } from './decoder.ts';
import { binaryFormat, type BinaryFormat } from './format.ts';
import { loadProfile } from './profiles.ts';
import { PMS_ORDER, pms5003Frame, prng, sds011Frame, type Pms5003Values } from '../../test/support/serial/frames.ts';

const profileFormat = (name: string) => loadProfile(name).format as BinaryFormat;
const frames = (rs: DecodeResult[]) => rs.filter((r) => r.kind === 'frame');
const errors = (rs: DecodeResult[]) => rs.filter((r) => r.kind === 'error');
const asMap = (r: DecodeResult) => (r.kind === 'frame' ? Object.fromEntries(r.values.map((v) => [v.point, v.value])) : {});

const PMS: Pms5003Values = { pm1_0_std: 11, pm2_5_std: 17, pm10_std: 21, pm1_0: 10, pm2_5: 15, pm10: 19, n0_3: 1989, n0_5: 567, n1_0: 89, n2_5: 7, n5_0: 2, n10: 1 };
const pmsWith = (i: number): Pms5003Values => ({ ...PMS, pm2_5: i % 1000, n0_3: 1000 + i });

describe('checksums', () => {
  it('match published check values', () => {
    const ascii = Buffer.from('123456789');
    expect(crc16Modbus(ascii)).toBe(0x4b37);
    expect(computeChecksum('sum8', ascii)).toBe(0xdd);
    expect(computeChecksum('sum16', ascii)).toBe(0x01dd);
    expect(computeChecksum('xor8', ascii)).toBe(0x31);
    // The NMEA reference sentence $GPGGA,123519,...*47
    expect(nmeaChecksum('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')).toBe(0x47);
  });

  it('reads every field type', () => {
    const b = Buffer.from([0xff, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x41, 0x20, 0x00, 0x00]);
    expect([readBinary(b, 0, 'u8'), readBinary(b, 0, 'i8'), readBinary(b, 0, 'u16be'), readBinary(b, 0, 'i16be'), readBinary(b, 0, 'i16le')]).toEqual([255, -1, 0xfffe, -2, -257]);
    expect([readBinary(b, 2, 'u32be'), readBinary(b, 2, 'u32le'), readBinary(b, 0, 'i32be')]).toEqual([0x01020304, 0x04030201, -130814]);
    expect([readBinary(b, 6, 'float32be'), readBinary(Buffer.from([0, 0, 0x20, 0x41]), 0, 'float32le')]).toEqual([10, 10]);
  });
});

describe('built-in particulate profiles', () => {
  it('PMS5003: a datasheet frame decodes to exact readings (golden)', () => {
    const d = createBinaryDecoder(profileFormat('pms5003'));
    const f = pms5003Frame(PMS);
    expect(f.subarray(0, 4).toString('hex')).toBe('424d001c');
    const rs = d.push(f);
    expect(rs).toEqual([{ kind: 'frame', errors: [], values: PMS_ORDER.map((p) => ({ point: p, value: PMS[p], unit: p.startsWith('n') ? '1/0.1L' : 'µg/m³' })) }]);
  });

  it('SDS011: tenths of µg/m³, sum of bytes 2..7, footer 0xab (golden)', () => {
    const d = createBinaryDecoder(profileFormat('sds011'));
    const f = sds011Frame(12.3, 45.6);
    expect(f.toString('hex')).toBe('aac07b00c801b2a197ab'); // 0x7b+0x00+0xc8+0x01+0xb2+0xa1 = 0x297
    expect(d.push(f)).toEqual([{ kind: 'frame', errors: [], values: [{ point: 'pm2_5', value: 12.3, unit: 'µg/m³' }, { point: 'pm10', value: 45.6, unit: 'µg/m³' }] }]);
  });

  it('decodes frames split at every byte boundary', () => {
    const d = createBinaryDecoder(profileFormat('pms5003'));
    const stream = Buffer.concat([pms5003Frame(pmsWith(1)), pms5003Frame(pmsWith(2))]);
    const out: DecodeResult[] = [];
    for (const b of stream) out.push(...d.push(Buffer.from([b])));
    expect(out.map((r) => asMap(r).pm2_5)).toEqual([1, 2]);
    expect(d.stats()).toMatchObject({ frames: 2, crcErrors: 0, protocolErrors: 0, droppedBytes: 0 });
  });
});

describe('resync', () => {
  it('finds the next frame after garbage, a bad checksum and a truncated frame', () => {
    const d = createBinaryDecoder(profileFormat('pms5003'));
    const bad = pms5003Frame(pmsWith(2));
    bad[12] ^= 0x01; // corrupt pm2_5: checksum no longer matches
    const stream = Buffer.concat([
      Buffer.from('hello garbage\x42'),
      pms5003Frame(pmsWith(1)),
      bad,
      pms5003Frame(pmsWith(3)),
      pms5003Frame(pmsWith(4)).subarray(0, 17), // cut short by a glitch
      pms5003Frame(pmsWith(5)),
    ]);
    const rs = d.push(stream);
    expect(frames(rs).map((r) => asMap(r).pm2_5)).toEqual([1, 3, 5]);
    expect(errors(rs)).toEqual([
      { kind: 'error', fault: 'protocol', message: '14 bytes of garbage before a frame header' },
      { kind: 'error', fault: 'crc', message: expect.stringMatching(/^checksum mismatch: sum16 of bytes 0\.\.29 is 0x[0-9a-f]{4}, frame says 0x[0-9a-f]{4} at byte 30 \(frame 42 4d 00 1c/) },
      { kind: 'error', fault: 'protocol', message: expect.stringMatching(/^truncated frame: a new header starts at byte 17/) },
    ]);
    expect(d.stats()).toEqual({ frames: 3, crcErrors: 1, protocolErrors: 2, droppedBytes: 14 + 32 + 17 });
  });

  it('a corrupt length field costs one byte, not the frame after it', () => {
    const d = createBinaryDecoder(profileFormat('pms5003'));
    const bad = pms5003Frame(pmsWith(1));
    bad.writeUInt16BE(0xffff, 2);
    const rs = d.push(Buffer.concat([bad, pms5003Frame(pmsWith(2))]));
    expect(errors(rs)).toEqual([{ kind: 'error', fault: 'protocol', message: expect.stringContaining('length field 65535 at byte 2 gives a 65539-byte frame, outside 4..64') }]);
    expect(frames(rs).map((r) => asMap(r).pm2_5)).toEqual([2]);
  });

  it('SDS011 with a wrong footer is a protocol error; a good frame hidden in its tail is kept', () => {
    const d = createBinaryDecoder(profileFormat('sds011'));
    const bad = sds011Frame(1, 2);
    bad[9] = 0x00;
    const rs = d.push(Buffer.concat([bad.subarray(0, 6), sds011Frame(3, 4), bad, sds011Frame(5, 6)]));
    expect(frames(rs).map((r) => asMap(r).pm2_5)).toEqual([3, 5]);
    expect(errors(rs).map((r) => r.kind === 'error' && r.fault)).toEqual(['protocol', 'protocol']);
    expect(errors(rs)[1]).toMatchObject({ message: expect.stringContaining('footer ab expected at byte 9, got 00') });
  });

  it('keeps at most one frame of bytes buffered and reports long garbage runs once per 4 KiB', () => {
    const d = createBinaryDecoder(profileFormat('pms5003'));
    const rand = prng(7);
    const junk = Buffer.from(Array.from({ length: 10_000 }, () => Math.floor(rand() * 0x42))); // never a header byte
    const rs: DecodeResult[] = [];
    for (let i = 0; i < junk.length; i += 1000) rs.push(...d.push(junk.subarray(i, i + 1000)));
    expect(rs).toEqual([
      { kind: 'error', fault: 'protocol', message: expect.stringMatching(/^\d+ bytes of garbage without a frame header$/) },
      { kind: 'error', fault: 'protocol', message: expect.stringMatching(/^\d+ bytes of garbage without a frame header$/) },
    ]);
    expect(d.stats().droppedBytes).toBe(10_000 - 1); // the last byte could start a header
    expect(frames(d.push(pms5003Frame(PMS)))).toHaveLength(1);
  });

  it('fields beyond a short (but valid) frame are named, the rest decode', () => {
    const fmt = binaryFormat.parse({
      type: 'binary', header: [0x55], length: { at: 1, type: 'u8' }, maxLength: 16, checksum: { type: 'xor8' },
      fields: [{ point: 'a', at: 2, type: 'u8' }, { point: 'b', at: 3, type: 'u16le', scale: 0.5, offset: -1 }],
    });
    const d = createBinaryDecoder(fmt);
    const frame = (body: number[]) => {
      const f = [0x55, body.length + 3, ...body];
      return Buffer.from([...f, f.reduce((x, y) => x ^ y, 0)]);
    };
    expect(d.push(Buffer.concat([frame([7, 0x10, 0x00]), frame([9])]))).toEqual([
      { kind: 'frame', errors: [], values: [{ point: 'a', value: 7, unit: undefined }, { point: 'b', value: 7, unit: undefined }] },
      { kind: 'frame', errors: ['field "b" (u16le at byte 3) is beyond the 4-byte frame'], values: [{ point: 'a', value: 9, unit: undefined }] },
    ]);
  });

  it('crc16-modbus frames (little-endian CRC by default)', () => {
    const fmt = binaryFormat.parse({ type: 'binary', header: [0x01, 0x03], length: 7, checksum: { type: 'crc16-modbus' }, fields: [{ point: 't', at: 3, type: 'i16be', scale: 0.1, unit: '°C' }] });
    const body = Buffer.from([0x01, 0x03, 0x02, 0xff, 0x9c]);
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(crc16Modbus(body));
    expect(createBinaryDecoder(fmt).push(Buffer.concat([body, crc]))).toEqual([{ kind: 'frame', errors: [], values: [{ point: 't', value: -10, unit: '°C' }] }]);
  });
});

describe('fuzz (seeded)', () => {
  for (const name of ['pms5003', 'sds011'] as const) {
    it(`${name}: every untouched good frame is decoded among random bytes and mutated frames`, () => {
      const rand = prng(name === 'pms5003' ? 20260601 : 424242);
      const d = createBinaryDecoder(profileFormat(name));
      const make = (i: number) => (name === 'pms5003' ? pms5003Frame(pmsWith(i)) : sds011Frame((i % 900) / 10, 1));
      const key = (r: DecodeResult) => (name === 'pms5003' ? Number(asMap(r).n0_3) - 1000 : Math.round(Number(asMap(r).pm2_5) * 10));
      const expected: number[] = [];
      const chunks: Buffer[] = [];
      for (let i = 0; i < 3000; i++) {
        const roll = rand();
        if (roll < 0.6) {
          chunks.push(make(i));
          expected.push(name === 'pms5003' ? i : i % 900);
        } else if (roll < 0.8) {
          chunks.push(Buffer.from(Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256))));
        } else {
          const m = Buffer.from(make(i));
          // Either one byte changed (any change breaks header, length, footer or checksum) or cut short.
          if (rand() < 0.5) {
            m[Math.floor(rand() * m.length)] ^= 1 + Math.floor(rand() * 255);
            chunks.push(m);
          } else chunks.push(m.subarray(0, 1 + Math.floor(rand() * (m.length - 1))));
        }
      }
      // Feed in random slices, as a serial port delivers them.
      const stream = Buffer.concat(chunks);
      const out: DecodeResult[] = [];
      for (let i = 0; i < stream.length; ) {
        const n = 1 + Math.floor(rand() * 64);
        out.push(...d.push(stream.subarray(i, i + n)));
        i += n;
      }
      const got = frames(out).map(key);
      expect(got).toEqual(expected);
      const s = d.stats();
      expect(s.crcErrors + s.protocolErrors).toBeGreaterThan(100);
      expect(s.frames).toBe(got.length);
    });
  }
});
