// The register image of the Modbus server: one pre-built Buffer per table, written on each
// reading of a mapped point (values encoded by drivers/modbus/codec.ts, like a device's points
// are decoded), and the quality and age registers computed when a client asks. Reads of an
// unmapped register and writes that do not cover exactly a writable mapping throw a Modbus
// exception (an Error with `modbusErrorCode`, the shape modbus-serial's ServerTCP answers with).
import { decodeRegisters, encodeRegisters, pointWidth, reorder, toEngineering, type CodecPoint } from '../modbus/codec.ts';
import type { Reading } from '../../runtime/types.ts';
import type { RegisterMapping, ServerTable } from './schema.ts';

export const QUALITY = { good: 0, uncertain: 1, bad: 2, none: 3 } as const;

/** What one register of a table holds. */
const NONE = 0, VALUE = 1, QUAL = 2, AGE = 3;

export type ModbusException = Error & { modbusErrorCode: number };

export function modbusException(code: number, message: string): ModbusException {
  return Object.assign(new Error(message), { modbusErrorCode: code });
}

/** One mapped point and its latest value. */
export interface Slot {
  mapping: RegisterMapping;
  codec: CodecPoint;
  width: number;
  /** ms after which the value counts as stale (quality 3). */
  staleAfter: number;
  last?: { quality: number; lagMs: number; mono: number };
  /** Why the latest value could not be put in the registers (quality 2 then). */
  encodeError?: string;
}

interface TableImage {
  image: Buffer;
  kind: Uint8Array;
  slot: Int32Array;
}

export interface DecodedWrite {
  slot: Slot;
  value: number | boolean | string;
}

export interface RegisterMap {
  readonly slots: Slot[];
  /** Puts a reading in the image; false when no mapping serves its point. */
  update(r: Reading, nowWall: number, nowMono: number): boolean;
  /** Registers [address, address + count) of `table` as uint16 values, or throws a Modbus exception. */
  read(table: ServerTable, address: number, count: number, nowMono: number): number[];
  /** The quality register of a slot now: 0 good, 1 uncertain, 2 bad, 3 no value or stale. */
  quality(s: Slot, nowMono: number): number;
  /** Decodes a write to holding registers into one value per mapping it covers, or throws a Modbus exception. */
  decodeWrite(address: number, words: number[]): DecodedWrite[];
}

/** `staleAfter(m)` gives each mapping's staleness limit in ms. Mappings were validated by the schema. */
export function createRegisterMap(mappings: RegisterMapping[], staleAfter: (m: RegisterMapping) => number): RegisterMap {
  const slots: Slot[] = mappings.map((m) => {
    const codec: CodecPoint = { name: m.point, table: m.table, type: m.type, order: m.order, length: m.length, scale: m.scale, offset: m.offset };
    return { mapping: m, codec, width: pointWidth(codec), staleAfter: staleAfter(m) };
  });
  const tables = { holding: buildTable(slots, 'holding'), input: buildTable(slots, 'input') };
  const byPoint = new Map<string, Slot[]>();
  slots.forEach((s) => {
    byPoint.set(s.mapping.point, [...(byPoint.get(s.mapping.point) ?? []), s]);
    put(tables[s.mapping.table], s, noValue(s.codec));
  });

  const ageMs = (s: Slot, nowMono: number) => (s.last ? s.last.lagMs + Math.max(0, nowMono - s.last.mono) : Infinity);

  const qualityOf = (s: Slot, nowMono: number): number => {
    if (!s.last || ageMs(s, nowMono) > s.staleAfter) return QUALITY.none;
    if (s.encodeError) return QUALITY.bad;
    return s.last.quality;
  };

  const ageOf = (s: Slot, nowMono: number): number => {
    const ms = ageMs(s, nowMono);
    const n = Math.floor(ms / (s.mapping.age?.unit === 'min' ? 60_000 : 1000));
    return Number.isFinite(n) ? Math.min(65535, n) : 65535;
  };

  return {
    slots,
    quality: qualityOf,

    update(r, nowWall, nowMono) {
      const list = byPoint.get(`${r.device}/${r.point}`);
      if (!list) return false;
      for (const s of list) {
        let bytes: Buffer;
        try {
          bytes = encodeValue(s.codec, r.value);
          s.encodeError = undefined;
        } catch (err) {
          bytes = noValue(s.codec);
          s.encodeError = `${JSON.stringify(r.value)} does not fit ${s.codec.type}: ${(err as Error).message}`;
        }
        put(tables[s.mapping.table], s, bytes);
        // Age counts on the monotonic clock from here on; `lagMs` is how old the reading already was.
        s.last = { quality: QUALITY[r.quality] ?? QUALITY.uncertain, lagMs: Math.max(0, nowWall - r.ts), mono: nowMono };
      }
      return true;
    },

    read(table, address, count, nowMono) {
      if (count < 1 || count > 125) throw modbusException(3, `quantity ${count} out of 1-125`);
      const t = tables[table];
      const out = new Array<number>(count);
      for (let i = 0; i < count; i++) {
        const a = address + i;
        const kind = a < t.kind.length ? t.kind[a] : NONE;
        if (kind === NONE) throw modbusException(2, `${table} register ${a} is not mapped`);
        const s = slots[t.slot[a]];
        out[i] = kind === VALUE ? t.image.readUInt16BE(a * 2) : kind === QUAL ? qualityOf(s, nowMono) : ageOf(s, nowMono);
      }
      return out;
    },

    decodeWrite(address, words) {
      const t = tables.holding;
      const end = address + words.length;
      const out: DecodedWrite[] = [];
      let a = address;
      while (a < end) {
        const kind = a < t.kind.length ? t.kind[a] : NONE;
        if (kind === NONE) throw modbusException(2, `holding register ${a} is not mapped`);
        const s = slots[t.slot[a]];
        if (kind !== VALUE) throw modbusException(2, `holding register ${a} is the ${kind === QUAL ? 'quality' : 'age'} register of ${s.mapping.point} (read-only)`);
        if (!s.mapping.writable) throw modbusException(2, `holding register ${a} (${s.mapping.point}) is not writable`);
        if (s.mapping.address !== a || a + s.width > end) {
          throw modbusException(2, `a write must cover all ${s.width} registers of ${s.mapping.point} (${s.mapping.address}-${s.mapping.address + s.width - 1})`);
        }
        const wire = Buffer.alloc(s.width * 2);
        for (let k = 0; k < s.width; k++) wire.writeUInt16BE(words[a - address + k], k * 2);
        if (s.codec.type === 'bool' && wire.readUInt16BE(0) > 1) throw modbusException(3, `${s.mapping.point} is a bool: expected 0 or 1, got ${wire.readUInt16BE(0)}`);
        const value = toEngineering(s.codec, decodeRegisters(s.codec, wire));
        if (value === undefined) throw modbusException(3, `${s.mapping.point}: not a finite number`);
        out.push({ slot: s, value });
        a += s.width;
      }
      return out;
    },
  };
}

function buildTable(slots: Slot[], table: ServerTable): TableImage {
  let size = 0;
  for (const s of slots) {
    if (s.mapping.table !== table) continue;
    size = Math.max(size, s.mapping.address + s.width, (s.mapping.quality?.address ?? -1) + 1, (s.mapping.age?.address ?? -1) + 1);
  }
  const t: TableImage = { image: Buffer.alloc(size * 2), kind: new Uint8Array(size), slot: new Int32Array(size) };
  slots.forEach((s, i) => {
    if (s.mapping.table !== table) return;
    for (let k = 0; k < s.width; k++) [t.kind[s.mapping.address + k], t.slot[s.mapping.address + k]] = [VALUE, i];
    if (s.mapping.quality) [t.kind[s.mapping.quality.address], t.slot[s.mapping.quality.address]] = [QUAL, i];
    if (s.mapping.age) [t.kind[s.mapping.age.address], t.slot[s.mapping.age.address]] = [AGE, i];
  });
  return t;
}

function put(t: TableImage, s: Slot, bytes: Buffer): void {
  bytes.copy(t.image, s.mapping.address * 2);
}

/** A reading's value in the mapping's type: a boolean is 1/0 in a number type, a number is true when non-zero in a bool. */
function encodeValue(p: CodecPoint, value: Reading['value']): Buffer {
  if (p.type === 'string') return encodeRegisters(p, typeof value === 'string' ? value : String(value));
  if (p.type === 'bool') {
    if (typeof value === 'string') throw new Error('expected true or false, got a string');
    return encodeRegisters(p, typeof value === 'boolean' ? value : value !== 0);
  }
  if (typeof value === 'string') throw new Error('expected a number, got a string');
  return encodeRegisters(p, typeof value === 'boolean' ? (value ? 1 : 0) : value);
}

/** Registers of a mapping without a usable value: NaN for floats, 0 for integers and bool, empty string. */
function noValue(p: CodecPoint): Buffer {
  const words = pointWidth(p);
  const b = Buffer.alloc(words * 2);
  if (p.type === 'float32') b.writeFloatBE(NaN, 0);
  else if (p.type === 'float64') b.writeDoubleBE(NaN, 0);
  else return b;
  return reorder(b, p.order, words);
}
