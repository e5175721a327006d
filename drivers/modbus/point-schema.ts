// The ONE schema of a Modbus point: inline `points:` in the config and the points of every
// profile file in profiles/ are both parsed by `pointSchema`, so a profile can hold nothing a
// config could not, and both get the same messages.
import { z } from 'zod';
import { bool, expected, int, num, oneOf, section, text } from '../../runtime/config/fields.ts';
import { isBitTable, ORDERS, pointWidth, POINT_TYPES, TABLES, type CodecPoint } from './codec.ts';

const POINT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A validated point with every default filled in. */
export interface ModbusPoint extends CodecPoint {
  address: number;
  unit?: string;
  deadband?: number;
  writable: boolean;
  min?: number;
  max?: number;
  description?: string;
}

const finite = (what: string) => num(what).refine(Number.isFinite, { error: expected(what) });

export const pointSchema = section({
  name: z.string({ error: expected('a point name of letters, digits, ".", "_" or "-"') }).regex(POINT_NAME_RE).describe('point name, unique in the device'),
  table: oneOf(TABLES).describe('coil (fc1/5/15), discrete (fc2), holding (fc3/6/16) or input (fc4)'),
  address: int(0, 65535).describe('0-based register or bit address (40001 in a data sheet is holding address 0)'),
  type: oneOf(POINT_TYPES).optional().describe('value type (default: bool for coil/discrete, uint16 for registers)'),
  order: oneOf(ORDERS).optional().describe('word/byte order of multi-byte values (default ABCD, big-endian)'),
  bit: int(0, 15).optional().describe('bool from a register: bit index, 0 = least significant'),
  length: int(1, 125).optional().describe('string: registers (2 characters each)'),
  scale: finite('a non-zero number').refine((v) => v !== 0, { error: 'expected a non-zero number, got 0' }).optional().describe('value = raw * scale + offset (default 1)'),
  offset: finite('a number').optional().describe('added after scale (default 0)'),
  unit: text().optional().describe('unit of the engineering value, like "V", "kWh", "%"'),
  deadband: finite('a number >= 0').min(0).optional()
    .describe('emit only when the value moved more than this from the last emitted one (default: emit every poll)'),
  writable: bool().optional().describe('accept writes (coil and holding only; default false)'),
  access: oneOf(['r', 'rw']).optional().describe('alternative to writable: rw = writable'),
  min: finite('a number').optional().describe('lowest value a write may set (engineering units)'),
  max: finite('a number').optional().describe('highest value a write may set (engineering units)'),
  description: z.string({ error: expected('a string') }).optional(),
})
  .superRefine((p, ctx) => {
    const bad = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message, input: (p as Record<string, unknown>)[path] });
    const bits = isBitTable(p.table);
    const type = p.type ?? (bits ? 'bool' : 'uint16');
    if (bits) {
      if (type !== 'bool') bad('type', `a ${p.table} holds one bit: expected type bool, got ${JSON.stringify(type)}`);
      for (const k of ['order', 'bit', 'length', 'scale', 'offset'] as const) {
        if (p[k] !== undefined) bad(k, `not used for a ${p.table} point (one bit)`);
      }
    }
    if (p.bit !== undefined && type !== 'bool') bad('bit', `only for type bool, got type ${type}`);
    if (type === 'string' && p.length === undefined) bad('length', 'missing required field (registers of the string)');
    if (type !== 'string' && p.length !== undefined) bad('length', `only for type string, got type ${type}`);
    if ((type === 'bool' || type === 'string') && !bits) {
      for (const k of ['scale', 'offset', 'min', 'max'] as const) if (p[k] !== undefined) bad(k, `not used for type ${type}`);
    }
    if (bits) for (const k of ['min', 'max'] as const) if (p[k] !== undefined) bad(k, `not used for a ${p.table} point`);
    if (p.min !== undefined && p.max !== undefined && p.min > p.max) bad('max', `expected a number >= min (${p.min}), got ${p.max}`);
    const writable = p.writable ?? p.access === 'rw';
    if (p.writable !== undefined && p.access !== undefined && p.writable !== (p.access === 'rw')) {
      bad('access', `contradicts writable: ${p.writable}`);
    }
    if (writable && (p.table === 'discrete' || p.table === 'input')) bad(p.writable !== undefined ? 'writable' : 'access', `a ${p.table} point is read-only by protocol`);
    const end = p.address + pointWidth({ table: p.table, type, length: p.length }) - 1;
    if (end > 65535) bad('address', `point ends at register ${end}, past 65535`);
  })
  .transform((p): ModbusPoint => {
    const bits = isBitTable(p.table);
    const out: ModbusPoint = {
      name: p.name,
      table: p.table,
      address: p.address,
      type: p.type ?? (bits ? 'bool' : 'uint16'),
      order: p.order ?? 'ABCD',
      scale: p.scale ?? 1,
      offset: p.offset ?? 0,
      writable: p.writable ?? p.access === 'rw',
    };
    for (const k of ['bit', 'length', 'unit', 'deadband', 'min', 'max', 'description'] as const) {
      if (p[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = p[k];
    }
    return out;
  });

export type PointInput = z.input<typeof pointSchema>;

/** A list of points whose names are unique (duplicates name both positions). */
export function pointList() {
  return z.array(pointSchema, { error: expected('a list of points') }).superRefine((pts, ctx) => {
    const seen = new Map<string, number>();
    pts.forEach((p, i) => {
      const first = seen.get(p.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate point name "${p.name}" (also points[${first}])`, input: p.name });
      else seen.set(p.name, i);
    });
  });
}
