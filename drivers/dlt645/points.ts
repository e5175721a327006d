// The DL/T 645-2007 data identifiers wayside reads, as data: name, DI, unit and the standard's
// scaling (BCD bytes, decimal places, sign bit). Values travel as BCD, low byte first; where
// the standard marks a value signed, the top bit of the highest byte is the sign (1 = negative).
import { z } from 'zod';
import { diToBytes, formatDi, hexBytes } from './codec.ts';

export const pointDefSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  di: z.string().regex(/^[0-9A-F]{8}$/),
  unit: z.string().optional(),
  bytes: z.int().min(1).max(8),
  decimals: z.int().min(0).max(8),
  signed: z.boolean(),
  description: z.string().min(1),
});

export type PointDef = z.infer<typeof pointDefSchema>;

const energy = (name: string, di: string, unit: string, signed: boolean, description: string): PointDef =>
  ({ name, di, unit, bytes: 4, decimals: 2, signed, description }); // XXXXXX.XX
const phases = (base: string, di: (n: number) => string, make: (name: string, di: string, phase: string) => PointDef) =>
  (['a', 'b', 'c'] as const).map((ph, i) => make(`${base}_${ph}`, di(i + 1), ph.toUpperCase()));

export const DLT645_POINTS: readonly PointDef[] = [
  energy('energy_total', '00010000', 'kWh', false, 'active energy import (forward), total'),
  energy('energy_combined', '00000000', 'kWh', true, 'combined active energy, total'),
  energy('energy_export', '00020000', 'kWh', false, 'active energy export (reverse), total'),
  energy('reactive_energy_1', '00030000', 'kvarh', true, 'combined reactive energy 1, total'),
  energy('reactive_energy_2', '00040000', 'kvarh', true, 'combined reactive energy 2, total'),
  ...phases('voltage', (n) => `02010${n}00`, (name, di, ph) => ({ name, di, unit: 'V', bytes: 2, decimals: 1, signed: false, description: `phase ${ph} voltage` })),
  ...phases('current', (n) => `02020${n}00`, (name, di, ph) => ({ name, di, unit: 'A', bytes: 3, decimals: 3, signed: true, description: `phase ${ph} current` })),
  { name: 'power_total', di: '02030000', unit: 'kW', bytes: 3, decimals: 4, signed: true, description: 'active power, total' },
  ...phases('power', (n) => `02030${n}00`, (name, di, ph) => ({ name, di, unit: 'kW', bytes: 3, decimals: 4, signed: true, description: `phase ${ph} active power` })),
  { name: 'reactive_power_total', di: '02040000', unit: 'kvar', bytes: 3, decimals: 4, signed: true, description: 'reactive power, total' },
  { name: 'pf_total', di: '02060000', bytes: 2, decimals: 3, signed: true, description: 'power factor, total' },
  ...phases('pf', (n) => `02060${n}00`, (name, di, ph) => ({ name, di, bytes: 2, decimals: 3, signed: true, description: `phase ${ph} power factor` })),
  { name: 'frequency', di: '02800002', unit: 'Hz', bytes: 2, decimals: 2, signed: false, description: 'grid frequency' },
];

export const POINT_NAMES = DLT645_POINTS.map((p) => p.name) as [string, ...string[]];
export const pointByName = (name: string): PointDef | undefined => DLT645_POINTS.find((p) => p.name === name);
export const pointByDi = (di: string): PointDef | undefined => DLT645_POINTS.find((p) => p.di === di.toUpperCase());

/** A value field that does not decode; `offset` is the byte offset within the value. */
export class ValueError extends Error {
  readonly offset: number;
  constructor(offset: number, message: string) {
    super(message);
    this.name = 'ValueError';
    this.offset = offset;
  }
}

/** Value bytes (offset removed, low byte first) -> number, per the point's scaling. */
export function decodeValue(def: PointDef, raw: Uint8Array): number {
  if (raw.length !== def.bytes) throw new ValueError(raw.length, `value of ${def.name} needs ${def.bytes} bytes, got ${raw.length}`);
  let n = 0;
  let negative = false;
  for (let i = def.bytes - 1; i >= 0; i--) {
    let b = raw[i];
    if (def.signed && i === def.bytes - 1) {
      negative = (b & 0x80) !== 0;
      b &= 0x7f;
    }
    const hi = b >> 4;
    const lo = b & 0x0f;
    if (hi > 9 || lo > 9) throw new ValueError(i, `value byte ${i} (0x${hexBytes(raw.subarray(i, i + 1))}) of ${def.name} is not BCD`);
    n = n * 100 + hi * 10 + lo;
  }
  const v = Number((n / 10 ** def.decimals).toFixed(def.decimals));
  return negative && v !== 0 ? -v : v;
}

/** number -> value bytes (the simulator's side, and golden tests). Throws when out of range. */
export function encodeValue(def: PointDef, value: number): Buffer {
  const n = Math.round(Math.abs(value) * 10 ** def.decimals);
  const digits = n.toString().padStart(def.bytes * 2, '0');
  // A signed value keeps the top bit for the sign, so its first digit is at most 7.
  if (!Number.isFinite(value) || digits.length > def.bytes * 2 || (def.signed && Number(digits[0]) > 7)) {
    throw new RangeError(`${value} does not fit ${def.name} (${def.bytes} BCD bytes, ${def.decimals} decimals${def.signed ? ', signed' : ''})`);
  }
  if (value < 0 && !def.signed) throw new RangeError(`${def.name} is unsigned, got ${value}`);
  const out = Buffer.from(digits, 'hex').reverse();
  if (value < 0) out[def.bytes - 1] |= 0x80;
  return out;
}

/** The request data of a read: the DI in wire order. */
export const readRequestData = (def: PointDef): Buffer => diToBytes(def.di);

export const describePoint = (def: PointDef): string => `${def.name} (DI ${formatDi(def.di)})`;
