// Known register images for every type x order: the words a device sends, and the value the
// driver must decode. Hex written out by hand from the IEEE 754 / two's complement encodings,
// not produced by the codec under test.
import type { Order, PointType } from '../../../drivers/modbus/codec.ts';

export interface DecodeCase {
  type: PointType;
  order: Order;
  words: number[];
  value: number | boolean | string;
  bit?: number;
  length?: number;
}

// 64-bit values, big-endian words (ABCD).
const I64 = [0xffff, 0xfee0, 0x8e04, 0xfb35]; // -1234567890123
const U64 = [0x002b, 0xdc54, 0x5d6b, 0x4b87]; // 12345678901234567 (> 2^53: nearest double)
const F64 = [0x4009, 0x21fb, 0x5444, 0x2d18]; // Math.PI

const swapBytes = (w: number) => ((w & 0xff) << 8) | (w >> 8);
/** The four orders of one big-endian word list, built by the definitions (not by the codec). */
function orders(words: number[]): Record<Order, number[]> {
  return {
    ABCD: words,
    CDAB: [...words].reverse(),
    BADC: words.map(swapBytes),
    DCBA: [...words].reverse().map(swapBytes),
  };
}

export const DECODE_CASES: DecodeCase[] = [
  // 16-bit: word orders do not apply, byte orders do.
  { type: 'int16', order: 'ABCD', words: [0xfffe], value: -2 },
  { type: 'int16', order: 'CDAB', words: [0xfffe], value: -2 },
  { type: 'int16', order: 'BADC', words: [0xfeff], value: -2 },
  { type: 'int16', order: 'DCBA', words: [0xfeff], value: -2 },
  { type: 'uint16', order: 'ABCD', words: [0x1234], value: 4660 },
  { type: 'uint16', order: 'CDAB', words: [0x1234], value: 4660 },
  { type: 'uint16', order: 'BADC', words: [0x3412], value: 4660 },
  { type: 'uint16', order: 'DCBA', words: [0x3412], value: 4660 },
  // 32-bit
  { type: 'float32', order: 'ABCD', words: [0x42f6, 0xe979], value: 123.456 },
  { type: 'float32', order: 'CDAB', words: [0xe979, 0x42f6], value: 123.456 },
  { type: 'float32', order: 'BADC', words: [0xf642, 0x79e9], value: 123.456 },
  { type: 'float32', order: 'DCBA', words: [0x79e9, 0xf642], value: 123.456 },
  { type: 'int32', order: 'ABCD', words: [0xf8a4, 0x32eb], value: -123456789 },
  { type: 'int32', order: 'CDAB', words: [0x32eb, 0xf8a4], value: -123456789 },
  { type: 'int32', order: 'BADC', words: [0xa4f8, 0xeb32], value: -123456789 },
  { type: 'int32', order: 'DCBA', words: [0xeb32, 0xa4f8], value: -123456789 },
  { type: 'uint32', order: 'ABCD', words: [0xb2d0, 0x5e00], value: 3000000000 },
  { type: 'uint32', order: 'CDAB', words: [0x5e00, 0xb2d0], value: 3000000000 },
  { type: 'uint32', order: 'BADC', words: [0xd0b2, 0x005e], value: 3000000000 },
  { type: 'uint32', order: 'DCBA', words: [0x005e, 0xd0b2], value: 3000000000 },
  // 64-bit
  ...(['ABCD', 'CDAB', 'BADC', 'DCBA'] as const).flatMap((order): DecodeCase[] => [
    { type: 'int64', order, words: orders(I64)[order], value: -1234567890123 },
    { type: 'uint64', order, words: orders(U64)[order], value: 12345678901234567 },
    { type: 'float64', order, words: orders(F64)[order], value: Math.PI },
  ]),
  // bool from a register: whole register, or one bit (counted in the decoded register)
  { type: 'bool', order: 'ABCD', words: [0x0000], value: false },
  { type: 'bool', order: 'ABCD', words: [0x0100], value: true },
  { type: 'bool', order: 'ABCD', words: [0x0004], bit: 2, value: true },
  { type: 'bool', order: 'ABCD', words: [0xfffb], bit: 2, value: false },
  { type: 'bool', order: 'BADC', words: [0x0400], bit: 2, value: true },
  { type: 'bool', order: 'ABCD', words: [0x8000], bit: 15, value: true },
  // strings: NUL/space padded ASCII; BADC/DCBA swap the two characters of each register
  { type: 'string', order: 'ABCD', words: [0x4c43, 0x2d32, 0x3030, 0x0000], length: 4, value: 'LC-200' },
  { type: 'string', order: 'CDAB', words: [0x4c43, 0x2d32, 0x3030, 0x2020], length: 4, value: 'LC-200' },
  { type: 'string', order: 'BADC', words: [0x434c, 0x322d, 0x3030, 0x0000], length: 4, value: 'LC-200' },
  { type: 'string', order: 'DCBA', words: [0x434c, 0x322d, 0x3030, 0x0000], length: 4, value: 'LC-200' },
];
