// Fixed binary frames: header bytes, a fixed length or a length field, a checksum, optional
// footer bytes, fields at byte offsets. Resync rule: a candidate frame that fails (bad length,
// footer or checksum) gives up only its first byte, and the search for the next header starts
// right after it, so a good frame that follows (or hides inside) a bad one is never lost.
// The buffer never holds more than one candidate frame (maxLength): garbage is dropped as it
// is scanned, counted, and reported once per run (or per MAX_BUFFER bytes without a frame).
import { checksumSpan, checksumWidth, computeChecksum } from './checksum.ts';
import { createStats, hex, MAX_BUFFER, type DecodeResult, type Decoder, type DecodedValue } from './decoder.ts';
import { binaryWidth, scaleValue, type BinaryFormat, type BinaryType } from './format.ts';

export function readBinary(b: Uint8Array, at: number, type: BinaryType): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (type) {
    case 'u8': return v.getUint8(at);
    case 'i8': return v.getInt8(at);
    case 'u16be': return v.getUint16(at, false);
    case 'u16le': return v.getUint16(at, true);
    case 'i16be': return v.getInt16(at, false);
    case 'i16le': return v.getInt16(at, true);
    case 'u32be': return v.getUint32(at, false);
    case 'u32le': return v.getUint32(at, true);
    case 'i32be': return v.getInt32(at, false);
    case 'i32le': return v.getInt32(at, true);
    case 'float32be': return v.getFloat32(at, false);
    case 'float32le': return v.getFloat32(at, true);
  }
}

const h2 = (n: number, width: number) => `0x${n.toString(16).padStart(width * 2, '0')}`;

export function createBinaryDecoder(f: BinaryFormat): Decoder {
  const header = Buffer.from(f.header);
  const footer = Buffer.from(f.footer);
  const cs = f.checksum === 'none' ? undefined : f.checksum;
  const csWidth = cs ? checksumWidth(cs.type) : 0;
  const lenField = typeof f.length === 'number' ? undefined : f.length;
  const minLen = Math.max(header.length + footer.length + csWidth, lenField ? lenField.at + binaryWidth(lenField.type) : 0);
  const maxLen = typeof f.length === 'number' ? f.length : f.maxLength;
  const stats = createStats();
  let buf: Buffer = Buffer.alloc(0);
  // Garbage scanned but not yet reported, and the end (in buf) of the last frame already
  // reported bad: its remaining bytes are not garbage a second time.
  let garbage = 0;
  let quietUntil = 0;

  /** Total length of the candidate at idx, 'wait' for more bytes, or an error text. */
  const frameLength = (idx: number): number | 'wait' | string => {
    if (!lenField) return maxLen;
    const w = binaryWidth(lenField.type);
    if (buf.length < idx + lenField.at + w) return 'wait';
    const raw = readBinary(buf, idx + lenField.at, lenField.type);
    const len = raw + lenField.add;
    if (len < minLen || len > maxLen) return `length field ${raw} at byte ${lenField.at} gives a ${len}-byte frame, outside ${minLen}..${maxLen}`;
    return len;
  };

  /** Footer then checksum; undefined when the frame is good. */
  const check = (frame: Buffer): DecodeResult | undefined => {
    const len = frame.length;
    if (footer.length && !frame.subarray(len - footer.length).equals(footer)) {
      return { kind: 'error', fault: 'protocol', message: `footer ${hex(footer)} expected at byte ${len - footer.length}, got ${hex(frame.subarray(len - footer.length))} (frame ${hex(frame)})` };
    }
    if (!cs) return undefined;
    const span = checksumSpan(cs, len, footer.length);
    if (typeof span === 'string') return { kind: 'error', fault: 'protocol', message: `${span} (frame ${hex(frame)})` };
    const want = computeChecksum(cs.type, frame.subarray(span.from, span.to + 1));
    const little = cs.endian ? cs.endian === 'little' : cs.type === 'crc16-modbus';
    const got = csWidth === 1 ? frame[span.at] : little ? frame.readUInt16LE(span.at) : frame.readUInt16BE(span.at);
    if (want === got) return undefined;
    // A header inside the failed frame most likely means this one was cut short.
    const next = frame.indexOf(header, 1);
    const what = `${cs.type} of bytes ${span.from}..${span.to} is ${h2(want, csWidth)}, frame says ${h2(got, csWidth)} at byte ${span.at}`;
    return next > 0
      ? { kind: 'error', fault: 'protocol', message: `truncated frame: a new header starts at byte ${next} and ${what} (frame ${hex(frame)})` }
      : { kind: 'error', fault: 'crc', message: `checksum mismatch: ${what} (frame ${hex(frame)})` };
  };

  const decode = (frame: Buffer): DecodeResult => {
    const values: DecodedValue[] = [];
    const errors: string[] = [];
    for (const fd of f.fields) {
      if (fd.at + binaryWidth(fd.type) > frame.length) {
        errors.push(`field "${fd.point}" (${fd.type} at byte ${fd.at}) is beyond the ${frame.length}-byte frame`);
        continue;
      }
      const raw = readBinary(frame, fd.at, fd.type);
      if (!Number.isFinite(raw)) {
        errors.push(`field "${fd.point}" (${fd.type} at byte ${fd.at}) is ${raw}`);
        continue;
      }
      values.push({ point: fd.point, value: scaleValue(raw, fd), unit: fd.unit });
    }
    return { kind: 'frame', values, errors };
  };

  const flushGarbage = (out: DecodeResult[], why: string) => {
    if (garbage === 0) return;
    out.push(stats.count({ kind: 'error', fault: 'protocol', message: `${garbage} bytes of garbage ${why}` }));
    garbage = 0;
  };

  return {
    push(chunk) {
      const out: DecodeResult[] = [];
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let pos = 0;
      for (;;) {
        const idx = buf.indexOf(header, pos);
        // With no header in sight keep only what could be the start of one.
        const runEnd = idx < 0 ? Math.max(pos, buf.length - (header.length - 1)) : idx;
        stats.droppedBytes += runEnd - pos;
        garbage += Math.max(0, runEnd - Math.max(pos, quietUntil));
        pos = runEnd;
        if (idx < 0) break;
        flushGarbage(out, 'before a frame header');
        const len = frameLength(idx);
        if (len === 'wait' || (typeof len === 'number' && buf.length - idx < len)) break;
        if (typeof len === 'string') {
          out.push(stats.count({ kind: 'error', fault: 'protocol', message: `${len} (bytes ${hex(buf.subarray(idx, idx + minLen))})` }));
          quietUntil = Math.max(quietUntil, idx + maxLen);
          pos = idx + 1; // give up the first byte only: the next header may be inside
          stats.droppedBytes++;
          continue;
        }
        const frame = buf.subarray(idx, idx + len);
        const bad = check(frame);
        if (bad) {
          out.push(stats.count(bad));
          quietUntil = Math.max(quietUntil, idx + len);
          pos = idx + 1;
          stats.droppedBytes++;
          continue;
        }
        out.push(stats.count(decode(frame)));
        pos = idx + len;
      }
      if (garbage >= MAX_BUFFER) flushGarbage(out, 'without a frame header');
      // Copy the remainder so the (possibly large) chunk it came from can be freed.
      buf = Buffer.from(buf.subarray(pos));
      quietUntil = Math.max(0, quietUntil - pos);
      return out;
    },
    reset() {
      stats.droppedBytes += buf.length;
      buf = Buffer.alloc(0);
      garbage = 0;
      quietUntil = 0;
    },
    stats: () => ({ frames: stats.frames, crcErrors: stats.crcErrors, protocolErrors: stats.protocolErrors, droppedBytes: stats.droppedBytes }),
  };
}
