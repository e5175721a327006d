// Config of the local Modbus TCP server (top-level `modbusServer:`): where it listens, who may
// connect, and which points it serves at which registers. A register entry is written like a
// Modbus device's point (same type, order, scale, offset, length names, from drivers/modbus),
// plus the optional quality and age registers. Checks within the section (overlaps, a type that
// does not fit, writes to input registers) are made here with paths; checks against the devices
// (unknown device or point, a type that does not fit the point) are made by check.ts at start.
import { isIP } from 'node:net';
import { z } from 'zod';
import { about, bool, expected, int, num, oneOf, section } from '../../runtime/config/fields.ts';
import { POINT_REF_RE } from '../../runtime/config/schema.ts';
import { duration } from '../../runtime/config/units.ts';
import { ORDERS, POINT_TYPES, pointWidth, type Order, type PointType } from '../modbus/codec.ts';
import { cidrProblem } from './allow.ts';

export const SERVER_TABLES = ['holding', 'input'] as const;
export type ServerTable = (typeof SERVER_TABLES)[number];
export const AGE_UNITS = ['s', 'min'] as const;

/** One mapped point, every default filled in (what the service uses). */
export interface RegisterMapping {
  /** "device/point". */
  point: string;
  device: string;
  name: string;
  table: ServerTable;
  address: number;
  type: PointType;
  order: Order;
  /** Registers of a string. */
  length?: number;
  scale: number;
  offset: number;
  quality?: { address: number };
  age?: { address: number; unit: (typeof AGE_UNITS)[number] };
  /** ms; undefined = the section's staleAfter, else the device's offlineAfter. */
  staleAfter?: number;
  writable: boolean;
}

export interface ModbusServerConfig {
  enabled: boolean;
  host: string;
  port: number;
  /** 255 = answer every unit id (`unitId: any`). */
  unitId: number;
  allow: string[];
  maxClients: number;
  /** ms a client may stay silent before it is disconnected. */
  idleTimeout: number;
  staleAfter?: number;
  registers: RegisterMapping[];
}

const finite = (what: string) => num(what).refine(Number.isFinite, { error: expected(what) });

const registerSchema = section({
  point: z.string({ error: expected('"device/point", like "meter-3/voltage_a"') }).regex(POINT_REF_RE).describe('"device/point" served here; the device must be configured'),
  table: oneOf(SERVER_TABLES).describe('holding (fc3, writable with fc6/16) or input (fc4, read-only)'),
  address: int(0, 65535).describe('0-based register address of the value (holding 0 is 40001 in data-sheet numbering)'),
  type: oneOf(POINT_TYPES).default('uint16').describe('register type, as in a Modbus device point (default uint16)'),
  order: oneOf(ORDERS).default('ABCD').describe('word/byte order of multi-register values (default ABCD, big-endian)'),
  length: int(1, 125).optional().describe('string: registers (2 characters each)'),
  scale: finite('a non-zero number').refine((v) => v !== 0, { error: 'expected a non-zero number, got 0' }).default(1)
    .describe('value = raw * scale + offset, as on a device point (raw = (value - offset) / scale); default 1'),
  offset: finite('a number').default(0).describe('added after scale (default 0)'),
  quality: section({ address: int(0, 65535) }).optional()
    .describe('register holding the value\'s quality: 0 good, 1 uncertain, 2 bad, 3 no value or stale (same table)'),
  age: section({
    address: int(0, 65535),
    unit: oneOf(AGE_UNITS).default('s').describe('s (default) or min'),
  }).optional().describe('register holding the age of the value, saturating at 65535 (same table)'),
  staleAfter: about(duration('1s', '30d'), 'older than this -> quality 3 (default: the section\'s staleAfter, else the device\'s offlineAfter)').optional(),
  writable: bool().default(false).describe('a client may write the point through this holding mapping (fc6/fc16); default false'),
}).superRefine((r, ctx) => {
  for (const issue of registerIssues(r)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: undefined });
});

/** A mapping as parsed, before its point is split into device and name. */
type RegisterInput = Omit<RegisterMapping, 'device' | 'name'>;

const hostField = z
  .string({ error: expected('an IP address of this gateway, like "127.0.0.1" or "10.0.0.5"') })
  .refine((h) => isIP(h) !== 0, { error: (iss) => `expected an IP address of this gateway (not a host name), like "127.0.0.1" or "10.0.0.5", got ${JSON.stringify(iss.input)}` });

const allowEntry = z
  .string({ error: expected('an IP address or a CIDR block like "10.0.0.0/24"') })
  .superRefine((s, ctx) => {
    const problem = cidrProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: s });
  });

export const modbusServerSection = section({
  enabled: bool().default(false).describe('serve the mapped points over Modbus TCP (default false)'),
  host: hostField.default('127.0.0.1').describe('address to listen on: 127.0.0.1 (default, this gateway only), an interface address, or 0.0.0.0 for all'),
  port: int(1, 65535).default(5020).describe('TCP port (default 5020; 502 needs CAP_NET_BIND_SERVICE or root)'),
  unitId: z.union([int(1, 255), z.literal('any')], { error: expected('a unit id 1-255 or "any"') }).default(1)
    .describe('unit id answered (default 1); "any" or 255 answers every unit id; requests for another unit get no answer'),
  allow: z.array(allowEntry, { error: expected('a list of IP addresses or CIDR blocks') }).default(['127.0.0.1', '::1'])
    .describe('clients allowed to connect (addresses or CIDR blocks); others are disconnected at once (default: loopback only)'),
  maxClients: int(1, 1000).default(8).describe('connections open at once; more are disconnected at once (default 8)'),
  idleTimeout: about(duration('1s', '1d'), 'a client silent this long is disconnected').prefault('5m'),
  staleAfter: about(duration('1s', '30d'), 'a value older than this has quality 3 (default: its device\'s offlineAfter)').optional(),
  registers: z.array(registerSchema, { error: expected('a list of register mappings') })
    .superRefine((regs, ctx) => {
      for (const issue of overlapIssues(regs)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message, input: undefined });
    })
    .default([]).describe('points served and where'),
})
  .superRefine((s, ctx) => {
    if (s.enabled && s.registers.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['registers'], message: 'expected at least one register mapping when enabled', input: s.registers });
    }
  })
  .transform((s): ModbusServerConfig => ({
    enabled: s.enabled,
    host: s.host,
    port: s.port,
    unitId: s.unitId === 'any' ? 255 : s.unitId,
    allow: s.allow,
    maxClients: s.maxClients,
    idleTimeout: s.idleTimeout,
    ...(s.staleAfter !== undefined && { staleAfter: s.staleAfter }),
    registers: s.registers.map(toMapping),
  }))
  .prefault({});

export type ModbusServerInput = z.input<typeof modbusServerSection>;

function toMapping(r: RegisterInput): RegisterMapping {
  const m = POINT_REF_RE.exec(r.point)!;
  const out: RegisterMapping = {
    point: r.point, device: m[1], name: m[2], table: r.table, address: r.address, type: r.type, order: r.order,
    scale: r.scale, offset: r.offset, writable: r.writable,
  };
  if (r.length !== undefined) out.length = r.length;
  if (r.quality) out.quality = { address: r.quality.address };
  if (r.age) out.age = { address: r.age.address, unit: r.age.unit };
  if (r.staleAfter !== undefined) out.staleAfter = r.staleAfter;
  return out;
}

interface Issue {
  path: (string | number)[];
  message: string;
}

/** Checks within one mapping: the type fits its registers, fields used only where they mean something. */
function registerIssues(r: RegisterInput): Issue[] {
  const out: Issue[] = [];
  if (r.type === 'string' && r.length === undefined) out.push({ path: ['length'], message: 'missing required field (registers of the string)' });
  if (r.type !== 'string' && r.length !== undefined) out.push({ path: ['length'], message: `only for type string, got type ${r.type}` });
  if ((r.type === 'bool' || r.type === 'string') && (r.scale !== 1 || r.offset !== 0)) {
    out.push({ path: [r.scale !== 1 ? 'scale' : 'offset'], message: `not used for type ${r.type}` });
  }
  const end = r.address + pointWidth({ table: r.table, type: r.type, length: r.length }) - 1;
  if (end > 65535) out.push({ path: ['address'], message: `a ${r.type} at ${r.address} ends at register ${end}, past 65535` });
  if (r.writable && r.table === 'input') out.push({ path: ['writable'], message: 'input registers are read-only by protocol: map a writable point to a holding register' });
  return out;
}

/** Every register of the section's mappings used once per table; an overlap names both entries. */
function overlapIssues(regs: RegisterInput[]): Issue[] {
  const out: Issue[] = [];
  const used = { holding: new Map<number, string>(), input: new Map<number, string>() };
  regs.forEach((r, i) => {
    const width = r.address + pointWidth({ table: r.table, type: r.type, length: r.length }) - 1 > 65535 ? 0 : pointWidth({ table: r.table, type: r.type, length: r.length });
    const spans: [string, number, number, string][] = [['address', r.address, width, `${r.point} value`]];
    if (r.quality) spans.push(['quality', r.quality.address, 1, `${r.point} quality`]);
    if (r.age) spans.push(['age', r.age.address, 1, `${r.point} age`]);
    const table = used[r.table];
    for (const [field, start, n, what] of spans) {
      const path = field === 'address' ? [i, 'address'] : [i, field, 'address'];
      for (let a = start; a < start + n; a++) {
        const other = table.get(a);
        if (other !== undefined) {
          out.push({ path, message: `${r.table} register ${a} is already used by ${other}` });
          break;
        }
      }
      for (let a = start; a < start + n; a++) if (!table.has(a)) table.set(a, `registers[${i}] (${what})`);
    }
  });
  return out;
}
