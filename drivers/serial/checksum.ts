// Frame checksums of common serial sensors. Each takes the bytes it covers and returns the
// value as the frame would carry it (8 or 16 bits).
export const CHECKSUMS = ['sum8', 'sum16', 'xor8', 'crc16-modbus', 'none'] as const;
export type ChecksumType = (typeof CHECKSUMS)[number];

/** Width in bytes of the checksum field in the frame. */
export function checksumWidth(type: ChecksumType): number {
  return type === 'none' ? 0 : type === 'sum16' || type === 'crc16-modbus' ? 2 : 1;
}

export function computeChecksum(type: ChecksumType, bytes: Uint8Array): number {
  switch (type) {
    case 'sum8':
    case 'sum16': {
      let s = 0;
      for (const b of bytes) s += b;
      return s & (type === 'sum8' ? 0xff : 0xffff);
    }
    case 'xor8': {
      let x = 0;
      for (const b of bytes) x ^= b;
      return x;
    }
    case 'crc16-modbus':
      return crc16Modbus(bytes);
    case 'none':
      return 0;
  }
}

/** CRC-16/MODBUS: poly 0x8005 reflected (0xA001), init 0xFFFF; "123456789" -> 0x4B37. */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** NMEA 0183: XOR of every character between "$" and "*". */
export function nmeaChecksum(body: string): number {
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return x;
}

/** Where a checksum sits in one frame, all offsets absolute and inclusive. */
export interface ChecksumSpan {
  from: number;
  to: number;
  at: number;
}

/**
 * Resolves a checksum's covered range and position for a frame of `len` bytes. Negative
 * offsets count from the frame's end (-1 = last byte). Defaults: the checksum sits just before
 * the footer and covers everything before it. Returns an error text when it does not fit.
 */
export function checksumSpan(
  spec: { type: ChecksumType; from?: number; to?: number; at?: number },
  len: number,
  footerLen: number,
): ChecksumSpan | string {
  const width = checksumWidth(spec.type);
  const abs = (v: number) => (v < 0 ? len + v : v);
  const at = spec.at === undefined ? len - footerLen - width : abs(spec.at);
  const from = abs(spec.from ?? 0);
  const to = spec.to === undefined ? at - 1 : abs(spec.to);
  if (at < 0 || at + width > len) return `checksum at byte ${at} (${width} bytes) does not fit a frame of ${len} bytes`;
  if (from < 0 || to >= len || from > to) return `checksum range bytes ${from}..${to} does not fit a frame of ${len} bytes`;
  return { from, to, at };
}
