// DL/T 645-2007 link layer: frames, addresses, data identifiers (DI), error replies.
//
//   [FE FE FE FE] 68 A0..A5 68 C L DATA(L bytes, each +0x33) CS 16
//
// A0 is the lowest byte of the 12-digit BCD address printed on the meter (000000001234 ->
// 34 12 00 00 00 00). CS is the sum mod 256 of every byte from the first 68 to the end of DATA.
// Frames here carry DATA with the 0x33 offset already removed; only the wire has it.

export const FRAME_START = 0x68;
export const FRAME_END = 0x16;
export const PREAMBLE_BYTE = 0xfe;
export const DATA_OFFSET = 0x33;
/** Largest data field the standard allows in a read reply. */
export const MAX_DATA = 200;
/** Header (68 A0..A5 68 C L) + CS + 16. */
export const FRAME_OVERHEAD = 12;
/** The address every meter answers to for "read address" (0x13). */
export const BROADCAST_ADDRESS = 'AAAAAAAAAAAA';

/** Function codes (control bits D4..D0) and flag bits of the control byte. */
export const FN_READ_DATA = 0x11;
export const FN_READ_FOLLOW_UP = 0x12;
export const FN_READ_ADDRESS = 0x13;
export const CTRL_REPLY = 0x80; // D7: slave -> master
export const CTRL_ERROR = 0x40; // D6: abnormal reply, data = one error byte
export const CTRL_FOLLOW_UP = 0x20; // D5: more data follows (read with 0x12)
export const CTRL_FN_MASK = 0x1f;

/** Bits of the error byte of an abnormal reply (DL/T 645-2007 table "error information word"). */
export const ERROR_BITS: readonly (readonly [number, string])[] = [
  [0x01, 'other error'],
  [0x02, 'no data requested'],
  [0x04, 'password error or unauthorized'],
  [0x08, 'baud rate cannot be changed'],
  [0x10, 'annual time zones over limit'],
  [0x20, 'daily time slots over limit'],
  [0x40, 'rates over limit'],
];

export function describeErrorByte(b: number): string[] {
  const names = ERROR_BITS.filter(([bit]) => b & bit).map(([, name]) => name);
  if (b & 0x80) names.push('reserved bit 7');
  return names.length ? names : ['no error bit set'];
}

export interface Frame {
  /** 12 characters as printed on the meter (BCD digits; "A" in the broadcast address). */
  address: string;
  control: number;
  /** Data field with the +0x33 offset removed. */
  data: Buffer;
}

export type FrameFaultKind = 'checksum' | 'end' | 'garbage' | 'format';

/** A frame that cannot be decoded; `offset` is the byte offset in the buffer given to the decoder. */
export class FrameError extends Error {
  readonly kind: FrameFaultKind;
  readonly offset: number;
  /** Address field of the bad frame when its header was intact (to blame the right meter). */
  readonly address?: string;
  constructor(kind: FrameFaultKind, offset: number, message: string, address?: string) {
    super(`${message} (byte offset ${offset})`);
    this.name = 'FrameError';
    this.kind = kind;
    this.offset = offset;
    this.address = address;
  }
}

const hex2 = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
export const hexBytes = (buf: Uint8Array): string => [...buf].map(hex2).join(' ');

/** "000000001234" -> 34 12 00 00 00 00. Accepts BCD digits and A (broadcast/wildcard nibbles). */
export function addressToBytes(address: string): Buffer {
  if (!/^[0-9Aa]{12}$/.test(address)) throw new Error(`invalid DL/T 645 address ${JSON.stringify(address)}: expected 12 digits like "000000001234"`);
  return Buffer.from(address, 'hex').reverse();
}

export function addressFromBytes(b: Uint8Array): string {
  return [...b].reverse().map(hex2).join('');
}

/** A DI as written in the standard, "02010100" (DI3 DI2 DI1 DI0), to wire order DI0..DI3. */
export function diToBytes(di: string): Buffer {
  if (!/^[0-9A-Fa-f]{8}$/.test(di)) throw new Error(`invalid data identifier ${JSON.stringify(di)}: expected 8 hex digits like "02010100"`);
  return Buffer.from(di, 'hex').reverse();
}

export function diFromBytes(b: Uint8Array): string {
  return [...b.subarray(0, 4)].reverse().map(hex2).join('');
}

/** "02010100" -> "02 01 01 00", the way the standard's tables print it. */
export const formatDi = (di: string): string => di.toUpperCase().replace(/(..)(?!$)/g, '$1 ');

export function checksum(buf: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += buf[i];
  return s & 0xff;
}

export interface EncodeOptions {
  /** Wake-up bytes (FE) sent before the frame; the standard allows 0..4. */
  preamble?: number;
}

export function encodeFrame(frame: { address: string; control: number; data?: Uint8Array }, opts: EncodeOptions = {}): Buffer {
  const data = frame.data ?? new Uint8Array(0);
  if (data.length > MAX_DATA) throw new Error(`DL/T 645 data field of ${data.length} bytes exceeds ${MAX_DATA}`);
  const pre = opts.preamble ?? 0;
  const out = Buffer.alloc(pre + FRAME_OVERHEAD + data.length, PREAMBLE_BYTE);
  let i = pre;
  out[i++] = FRAME_START;
  addressToBytes(frame.address).copy(out, i);
  i += 6;
  out[i++] = FRAME_START;
  out[i++] = frame.control & 0xff;
  out[i++] = data.length;
  for (const b of data) out[i++] = (b + DATA_OFFSET) & 0xff;
  out[i] = checksum(out, pre, i);
  out[i + 1] = FRAME_END;
  return out;
}

type Probe =
  | { status: 'frame'; frame: Frame; length: number }
  | { status: 'bad'; error: FrameError }
  | { status: 'incomplete' }
  | { status: 'no-frame' };

/** Looks for a frame starting at `p` (buf[p] is 68). `base` maps offsets for error messages. */
function probe(buf: Buffer, p: number, base = 0): Probe {
  const avail = buf.length - p;
  if (avail < 10) return { status: 'incomplete' };
  if (buf[p + 7] !== FRAME_START) return { status: 'no-frame' };
  const len = buf[p + 9];
  if (len > MAX_DATA) return { status: 'no-frame' };
  if (avail < FRAME_OVERHEAD + len) return { status: 'incomplete' };
  const address = addressFromBytes(buf.subarray(p + 1, p + 7));
  const csAt = p + 10 + len;
  const cs = checksum(buf, p, csAt);
  if (buf[csAt] !== cs) {
    return { status: 'bad', error: new FrameError('checksum', base + csAt, `checksum 0x${hex2(buf[csAt])} does not match computed 0x${hex2(cs)}`, address) };
  }
  if (buf[csAt + 1] !== FRAME_END) {
    return { status: 'bad', error: new FrameError('end', base + csAt + 1, `end byte 0x${hex2(buf[csAt + 1])} is not 0x16`, address) };
  }
  const data = Buffer.alloc(len);
  for (let i = 0; i < len; i++) data[i] = (buf[p + 10 + i] - DATA_OFFSET) & 0xff;
  return { status: 'frame', frame: { address, control: buf[p + 8], data }, length: FRAME_OVERHEAD + len };
}

/** Decodes exactly one frame (optionally preceded by FE bytes); throws FrameError naming the byte. */
export function decodeFrame(buf: Buffer): Frame {
  let p = 0;
  while (p < buf.length && buf[p] === PREAMBLE_BYTE) p++;
  if (buf[p] !== FRAME_START) throw new FrameError('format', p, p < buf.length ? `expected frame start 0x68, got 0x${hex2(buf[p])}` : 'empty frame');
  const r = probe(buf, p);
  if (r.status === 'bad') throw r.error;
  if (r.status === 'incomplete') throw new FrameError('format', buf.length, `truncated frame: ${buf.length - p} bytes`);
  if (r.status === 'no-frame') {
    const at = buf[p + 7] !== FRAME_START ? p + 7 : p + 9;
    throw new FrameError('format', at, at === p + 7 ? `expected second 0x68, got 0x${hex2(buf[at])}` : `data length ${buf[at]} exceeds ${MAX_DATA}`);
  }
  if (p + r.length !== buf.length) throw new FrameError('format', p + r.length, `${buf.length - p - r.length} bytes after the end of the frame`);
  return r.frame;
}

export type ParseEvent =
  | { type: 'frame'; frame: Frame }
  | { type: 'garbage'; bytes: number }
  | { type: 'bad-frame'; error: FrameError };

export interface FrameParser {
  /** Feed received bytes; returns what they completed, in stream order. Never throws. */
  push(chunk: Uint8Array): ParseEvent[];
  /** Bytes held waiting for the rest of a frame. */
  pending(): number;
  /** Drop held bytes (a new exchange starts); returns how many were dropped. */
  reset(): number;
}

/**
 * Stream deframer: skips FE preambles and garbage, resynchronises one byte after a bad frame,
 * and never waits on a false header while a complete valid frame sits behind it. The held
 * buffer is bounded by the largest frame (212 bytes).
 */
export function createFrameParser(): FrameParser {
  let buf = Buffer.alloc(0);
  let consumed = 0; // stream offset of buf[0], for error messages

  const drop = (n: number) => {
    buf = buf.subarray(n);
    consumed += n;
  };
  const junk = (upto: number) => {
    let n = 0;
    for (let i = 0; i < upto; i++) if (buf[i] !== PREAMBLE_BYTE) n++;
    return n;
  };

  return {
    push(chunk) {
      const out: ParseEvent[] = [];
      let garbage = 0;
      const flushGarbage = () => {
        if (garbage) out.push({ type: 'garbage', bytes: garbage });
        garbage = 0;
      };
      buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
      for (;;) {
        const p = buf.indexOf(FRAME_START);
        if (p < 0) {
          garbage += junk(buf.length);
          drop(buf.length);
          break;
        }
        if (p > 0) {
          garbage += junk(p);
          drop(p);
        }
        const r = probe(buf, 0, consumed);
        if (r.status === 'frame') {
          flushGarbage();
          out.push({ type: 'frame', frame: r.frame });
          drop(r.length);
        } else if (r.status === 'bad' || r.status === 'no-frame') {
          if (r.status === 'bad') {
            flushGarbage();
            out.push({ type: 'bad-frame', error: r.error });
          } else garbage++;
          drop(1);
        } else {
          // Incomplete: a real frame may hide behind a false 68 in garbage.
          let q = buf.indexOf(FRAME_START, 1);
          while (q > 0 && probe(buf, q).status !== 'frame') q = buf.indexOf(FRAME_START, q + 1);
          if (q < 0) break;
          garbage += junk(q);
          drop(q);
        }
      }
      flushGarbage();
      return out;
    },
    pending: () => buf.length,
    reset() {
      const n = buf.length;
      drop(n);
      return n;
    },
  };
}
