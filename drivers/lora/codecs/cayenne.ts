// Cayenne LPP, built in: <channel> <type> <value...> records, big-endian, decoded to TTN's
// naming (`temperature_3: 27.2`, `gps_1: { latitude, longitude, altitude }`). The base types
// are the IPSO set from the Cayenne LPP reference; the extensions are those the common Arduino
// library (ElectronicCats CayenneLPP) and its decoder agree on in id, size and scale. Types
// whose id or size differs between libraries (direction, colour, concentration) are left out:
// guessing would turn a good reading into a wrong one.
import type { DecodedUplink, EncodedDownlink, PayloadCodec } from '../codec-types.ts';

interface LppType {
  id: number;
  /** TTN's key: the lowercase LPP constant (LPP_BAROMETRIC_PRESSURE -> barometric_pressure). */
  name: string;
  size: number;
  signed: boolean;
  /** Raw value / divisor = value. */
  divisor: number;
  /** Multi-value types: field names, each `size / fields.length` bytes (GPS has its own layout). */
  fields?: readonly string[];
}

const T = (id: number, name: string, size: number, signed: boolean, divisor: number, fields?: string[]): LppType => ({ id, name, size, signed, divisor, fields });

export const LPP_TYPES: readonly LppType[] = [
  T(0, 'digital_in', 1, false, 1),
  T(1, 'digital_out', 1, false, 1),
  T(2, 'analog_in', 2, true, 100),
  T(3, 'analog_out', 2, true, 100),
  T(100, 'generic_sensor', 4, false, 1),
  T(101, 'luminosity', 2, false, 1),
  T(102, 'presence', 1, false, 1),
  T(103, 'temperature', 2, true, 10),
  T(104, 'relative_humidity', 1, false, 2),
  T(113, 'accelerometer', 6, true, 1000, ['x', 'y', 'z']),
  T(115, 'barometric_pressure', 2, false, 10),
  T(116, 'voltage', 2, false, 100),
  T(117, 'current', 2, false, 1000),
  T(118, 'frequency', 4, false, 1),
  T(120, 'percentage', 1, false, 1),
  T(121, 'altitude', 2, true, 1),
  T(128, 'power', 2, false, 1),
  T(130, 'distance', 4, false, 1000),
  T(131, 'energy', 4, false, 1000),
  T(133, 'unixtime', 4, false, 1),
  T(134, 'gyrometer', 6, true, 100, ['x', 'y', 'z']),
  // GPS: latitude and longitude 3 bytes signed 0.0001°, altitude 3 bytes signed 0.01 m.
  T(136, 'gps', 9, true, 0, ['latitude', 'longitude', 'altitude']),
  T(142, 'switch', 1, false, 1),
];

const BY_ID = new Map(LPP_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(LPP_TYPES.map((t) => [t.name, t]));
const GPS_DIVISORS = [10_000, 10_000, 100];

/** A payload that is not valid Cayenne LPP; `offset` is the byte where decoding stopped. */
export class LppError extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(`Cayenne LPP: ${message} at byte offset ${offset}`);
    this.name = 'LppError';
    this.offset = offset;
  }
}

function readInt(b: Uint8Array, at: number, size: number, signed: boolean): number {
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + b[at + i];
  if (signed && v >= 2 ** (8 * size - 1)) v -= 2 ** (8 * size);
  return v;
}

/** Rounds away float noise from the division (27.2, not 27.200000000000003). */
const scale = (raw: number, divisor: number) => (divisor === 1 ? raw : Number((raw / divisor).toFixed(Math.ceil(Math.log10(divisor)))));

/** Decodes a whole payload; throws LppError naming the offset of a truncated record or an unknown type. */
export function decodeLpp(bytes: Uint8Array): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let i = 0;
  while (i < bytes.length) {
    if (i + 2 > bytes.length) throw new LppError(i, `record header truncated (channel without a type byte)`);
    const channel = bytes[i];
    const type = BY_ID.get(bytes[i + 1]);
    if (!type) throw new LppError(i + 1, `unknown type 0x${bytes[i + 1].toString(16).padStart(2, '0')} (channel ${channel})`);
    const at = i + 2;
    if (at + type.size > bytes.length) {
      throw new LppError(at, `${type.name} on channel ${channel} needs ${type.size} bytes, ${bytes.length - at} left`);
    }
    let value: unknown;
    if (type.fields) {
      const each = type.size / type.fields.length;
      const o: Record<string, number> = {};
      type.fields.forEach((f, k) => {
        o[f] = scale(readInt(bytes, at + k * each, each, type.signed), type.name === 'gps' ? GPS_DIVISORS[k] : type.divisor);
      });
      value = o;
    } else {
      value = scale(readInt(bytes, at, type.size, type.signed), type.divisor);
    }
    out[`${type.name}_${channel}`] = value;
    i = at + type.size;
  }
  return out;
}

/** A downlink that cannot be encoded: names the key and why. */
export class LppEncodeError extends Error {
  constructor(key: string, message: string) {
    super(`Cayenne LPP: cannot encode "${key}": ${message}`);
    this.name = 'LppEncodeError';
  }
}

function writeInt(out: number[], v: number, size: number, signed: boolean, key: string): void {
  const min = signed ? -(2 ** (8 * size - 1)) : 0;
  const max = signed ? 2 ** (8 * size - 1) - 1 : 2 ** (8 * size) - 1;
  if (!Number.isFinite(v) || v < min || v > max) throw new LppEncodeError(key, `value out of range for ${size} byte${size > 1 ? 's' : ''}`);
  let u = v < 0 ? v + 2 ** (8 * size) : v;
  const bytes: number[] = [];
  for (let k = 0; k < size; k++) {
    bytes.unshift(u % 256);
    u = Math.floor(u / 256);
  }
  out.push(...bytes);
}

/** Encodes `{ digital_out_1: 1, analog_out_2: -3.5, ... }` (TTN's names) in key order. */
export function encodeLpp(data: Record<string, unknown>): number[] {
  const out: number[] = [];
  for (const [key, value] of Object.entries(data)) {
    const m = /^(.+)_(\d{1,3})$/.exec(key);
    const type = m ? BY_NAME.get(m[1]) : undefined;
    const channel = m ? Number(m[2]) : NaN;
    if (!type || !(channel <= 255)) throw new LppEncodeError(key, `expected <type>_<channel 0-255> with a type of ${[...BY_NAME.keys()].join(', ')}`);
    out.push(channel, type.id);
    const raw = (v: unknown, divisor: number, field?: string): number => {
      const n = typeof v === 'boolean' ? Number(v) : v;
      if (typeof n !== 'number') throw new LppEncodeError(key, `expected a number${field ? ` for ${field}` : ''}, got ${typeof v}`);
      return Math.round(n * divisor);
    };
    if (type.fields) {
      const each = type.size / type.fields.length;
      if (value === null || typeof value !== 'object') throw new LppEncodeError(key, `expected { ${type.fields.join(', ')} }`);
      type.fields.forEach((f, k) => {
        writeInt(out, raw((value as Record<string, unknown>)[f], type.name === 'gps' ? GPS_DIVISORS[k] : type.divisor, f), each, type.signed, key);
      });
    } else {
      writeInt(out, raw(value, type.divisor), type.size, type.signed, key);
    }
  }
  return out;
}

export function createCayenneCodec(): PayloadCodec {
  return {
    async decodeUplink({ bytes }): Promise<DecodedUplink> {
      try {
        return { data: decodeLpp(bytes) };
      } catch (err) {
        return { data: {}, errors: [(err as Error).message] };
      }
    },
    async encodeDownlink({ data }): Promise<EncodedDownlink> {
      try {
        return { bytes: encodeLpp(data) };
      } catch (err) {
        return { bytes: [], errors: [(err as Error).message] };
      }
    },
    async close() {},
  };
}
