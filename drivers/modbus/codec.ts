// Values <-> register bytes: the ten point types, the four word/byte orders, scale and offset.
// Orders name where the bytes of a value "ABCD" (A most significant) arrive on the wire:
// ABCD big-endian, CDAB word-swapped, BADC byte-swapped within words, DCBA little-endian.
// 64-bit values generalise the same two swaps (word order reversed, bytes in a word swapped).
export const POINT_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export const ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export const TABLES = ['coil', 'discrete', 'holding', 'input'] as const;

export type PointType = (typeof POINT_TYPES)[number];
export type Order = (typeof ORDERS)[number];
export type Table = (typeof TABLES)[number];

/** What the codec needs of a point (a subset of the validated point). */
export interface CodecPoint {
  name: string;
  table: Table;
  type: PointType;
  order: Order;
  bit?: number;
  /** Registers of a string point. */
  length?: number;
  scale: number;
  offset: number;
}

export type RawValue = number | bigint | boolean | string;

export function isBitTable(t: Table): boolean {
  return t === 'coil' || t === 'discrete';
}

/** Registers (or bits, for coil/discrete) the point occupies. */
export function pointWidth(p: Pick<CodecPoint, 'table' | 'type' | 'length'>): number {
  if (isBitTable(p.table)) return 1;
  switch (p.type) {
    case 'bool': case 'int16': case 'uint16': return 1;
    case 'int32': case 'uint32': case 'float32': return 2;
    case 'int64': case 'uint64': case 'float64': return 4;
    case 'string': return p.length ?? 1;
  }
}

/**
 * Reorders `words` registers between wire order and big-endian. The mapping is its own
 * inverse, so the same function encodes writes.
 */
export function reorder(src: Buffer, order: Order, words: number, swapWords = true): Buffer {
  const wordSwap = swapWords && (order === 'CDAB' || order === 'DCBA');
  const byteSwap = order === 'BADC' || order === 'DCBA';
  if (!wordSwap && !byteSwap) return src;
  const out = Buffer.alloc(words * 2);
  for (let k = 0; k < words; k++) {
    const from = (wordSwap ? words - 1 - k : k) * 2;
    out[k * 2] = byteSwap ? src[from + 1] : src[from];
    out[k * 2 + 1] = byteSwap ? src[from] : src[from + 1];
  }
  return out;
}

/** Decodes a register point from its bytes as received (2 * width bytes). */
export function decodeRegisters(p: CodecPoint, wire: Buffer): RawValue {
  const words = pointWidth(p);
  const b = reorder(wire, p.order, words, p.type !== 'string');
  switch (p.type) {
    case 'bool': {
      const w = b.readUInt16BE(0);
      return p.bit === undefined ? w !== 0 : ((w >> p.bit) & 1) === 1;
    }
    case 'int16': return b.readInt16BE(0);
    case 'uint16': return b.readUInt16BE(0);
    case 'int32': return b.readInt32BE(0);
    case 'uint32': return b.readUInt32BE(0);
    case 'float32': return b.readFloatBE(0);
    case 'int64': return b.readBigInt64BE(0);
    case 'uint64': return b.readBigUInt64BE(0);
    case 'float64': return b.readDoubleBE(0);
    case 'string': {
      // Devices pad with NUL or spaces; keep printable ASCII up to the first NUL.
      const nul = b.indexOf(0);
      return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1').replace(/[^\x20-\x7e]/g, '').trimEnd();
    }
  }
}

/** The shortest decimal that reads back as the same float32 (230.1, not 230.10000610351562). */
export function tidyFloat32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 6; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** Raw -> engineering value (scale, offset), or undefined for NaN/Infinity (no reading). */
export function toEngineering(p: CodecPoint, raw: RawValue): number | boolean | string | undefined {
  if (typeof raw === 'boolean' || typeof raw === 'string') return raw;
  let n = typeof raw === 'bigint' ? Number(raw) : raw;
  if (p.type === 'float32') n = tidyFloat32(n);
  if (!Number.isFinite(n)) return undefined;
  if (p.scale === 1 && p.offset === 0) return n;
  // 231 * 0.1 is 23.100000000000001 in binary; 12 significant digits are plenty for a sensor.
  return Number((n * p.scale + p.offset).toPrecision(12));
}

const INT_RANGE: Partial<Record<PointType, [bigint, bigint]>> = {
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};
const FLOAT32_MAX = 3.4028234663852886e38;

/** Engineering range a point's raw type can hold, for messages and default write limits. */
export function typeRange(p: CodecPoint): [number, number] | undefined {
  const r = INT_RANGE[p.type];
  let lo: number, hi: number;
  if (r) [lo, hi] = [Number(r[0]), Number(r[1])];
  else if (p.type === 'float32') [lo, hi] = [-FLOAT32_MAX, FLOAT32_MAX];
  else if (p.type === 'float64') [lo, hi] = [-Number.MAX_VALUE, Number.MAX_VALUE];
  else return undefined;
  const a = lo * p.scale + p.offset;
  const b = hi * p.scale + p.offset;
  return a <= b ? [a, b] : [b, a];
}

/**
 * Engineering value -> register bytes in wire order. Throws a plain Error with the reason;
 * the caller adds device and point. Integers are rounded after undoing scale and offset.
 */
export function encodeRegisters(p: CodecPoint, value: number | boolean | string): Buffer {
  const words = pointWidth(p);
  const b = Buffer.alloc(words * 2);
  if (p.type === 'string') {
    if (typeof value !== 'string') throw new Error(`expected a string, got ${typeof value}`);
    if (!/^[\x20-\x7e]*$/.test(value)) throw new Error('expected printable ASCII characters only');
    if (value.length > words * 2) throw new Error(`expected at most ${words * 2} characters, got ${value.length}`);
    b.write(value, 'latin1');
    return reorder(b, p.order, words, false);
  }
  if (p.type === 'bool') {
    if (typeof value !== 'boolean') throw new Error(`expected true or false, got ${JSON.stringify(value)}`);
    b.writeUInt16BE(value ? (p.bit === undefined ? 1 : 1 << p.bit) : 0, 0);
    return reorder(b, p.order, words);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`expected a finite number, got ${JSON.stringify(value)}`);
  const raw = (value - p.offset) / p.scale;
  const ints = INT_RANGE[p.type];
  if (ints) {
    const n = BigInt(Math.round(raw));
    if (n < ints[0] || n > ints[1]) throw new Error(`raw value ${n} does not fit ${p.type}`);
    switch (p.type) {
      case 'int16': b.writeInt16BE(Number(n), 0); break;
      case 'uint16': b.writeUInt16BE(Number(n), 0); break;
      case 'int32': b.writeInt32BE(Number(n), 0); break;
      case 'uint32': b.writeUInt32BE(Number(n), 0); break;
      case 'int64': b.writeBigInt64BE(n, 0); break;
      case 'uint64': b.writeBigUInt64BE(n, 0); break;
    }
  } else if (p.type === 'float32') {
    if (Math.abs(raw) > FLOAT32_MAX) throw new Error(`raw value ${raw} does not fit float32`);
    b.writeFloatBE(raw, 0);
  } else b.writeDoubleBE(raw, 0);
  return reorder(b, p.order, words);
}
