// The framing config of a serial sensor: how its byte stream splits into frames and which
// bytes or text fields become which points. One schema checks both an inline `format:` in
// wayside.yaml and the built-in profiles in profiles/, so a profile is plain data.
import { z } from 'zod';
import { CHECKSUMS, checksumSpan, checksumWidth } from './checksum.ts';

const POINT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const pointName = z
  .string({ error: 'expected a point name' })
  .regex(POINT_RE, 'expected a point name of letters, digits, ".", "_" or "-" (up to 128)')
  .describe('point name, as in "<device>/<point>"');

const byte = z.int({ error: 'expected a byte 0-255 (0x00-0xff)' }).min(0).max(255);

/** What every field shares: the point it feeds and how the raw number becomes its value. */
const valueShape = {
  point: pointName,
  unit: z.string().min(1).optional().describe('unit of the reading, like "µg/m³"'),
  scale: z.number().default(1).describe('value = raw * scale + offset'),
  offset: z.number().default(0).describe('value = raw * scale + offset'),
  decimals: z.int().min(0).max(12).optional().describe('round the value to this many decimals'),
  description: z.string().optional().describe('what the point measures (documentation only)'),
};

export const BINARY_TYPES = [
  'u8', 'i8', 'u16be', 'u16le', 'i16be', 'i16le', 'u32be', 'u32le', 'i32be', 'i32le', 'float32be', 'float32le',
] as const;
export type BinaryType = (typeof BINARY_TYPES)[number];
export const binaryWidth = (t: BinaryType): number => (t === 'u8' || t === 'i8' ? 1 : t.includes('16') ? 2 : 4);

const binaryField = z.strictObject({
  ...valueShape,
  at: z.int().min(0).max(4095).describe('byte offset of the field in the frame (0 = first header byte)'),
  type: z.enum(BINARY_TYPES).describe('u8, i8, u16be/le, i16be/le, u32be/le, i32be/le, float32be/le'),
});

const lengthField = z.strictObject({
  at: z.int().min(0).max(4095).describe('byte offset of the length field'),
  type: z.enum(['u8', 'u16be', 'u16le']).describe('width and byte order of the length field'),
  add: z.int().min(-4096).max(4096).default(0).describe('frame length in bytes = field value + add'),
});

const checksumSpec = z.strictObject({
  type: z.enum(CHECKSUMS).describe('sum8, sum16 (sum of bytes), xor8, crc16-modbus or none'),
  from: z.int().min(-4096).max(4095).optional().describe('first covered byte (negative: from the end); default 0'),
  to: z.int().min(-4096).max(4095).optional().describe('last covered byte, inclusive; default the byte before the checksum'),
  at: z.int().min(-4096).max(4095).optional().describe('checksum position; default just before the footer (negative: from the end)'),
  endian: z.enum(['big', 'little']).optional().describe('byte order of a 16-bit checksum; default big (sum16), little (crc16-modbus)'),
});

export const binaryFormat = z
  .strictObject({
    type: z.literal('binary'),
    header: z.array(byte).min(1).max(16).describe('bytes every frame starts with, like [0x42, 0x4d]'),
    footer: z.array(byte).max(16).default([]).describe('bytes every frame ends with, like [0xab]'),
    length: z
      .union([z.int().min(1).max(4096), lengthField])
      .describe('total frame length in bytes, or { at, type, add } to read it from a length field'),
    maxLength: z.int().min(1).max(4096).default(256).describe('longest frame a length field may announce'),
    checksum: z.union([z.literal('none'), checksumSpec]).describe('"none" or { type, from, to, at, endian }'),
    fields: z.array(binaryField).min(1),
  })
  .superRefine((f, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const fixed = typeof f.length === 'number' ? f.length : undefined;
    const limit = fixed ?? f.maxLength;
    const cs = f.checksum === 'none' ? undefined : f.checksum;
    const overhead = f.header.length + f.footer.length + (cs ? checksumWidth(cs.type) : 0);
    if (fixed !== undefined && fixed < overhead) issue(['length'], `a frame of ${fixed} bytes cannot hold header, footer and checksum (${overhead} bytes)`);
    if (typeof f.length === 'object' && f.length.at + binaryWidth(f.length.type) > f.maxLength) issue(['length', 'at'], `length field beyond maxLength ${f.maxLength}`);
    if (cs && fixed !== undefined) {
      const span = checksumSpan(cs, fixed, f.footer.length);
      if (typeof span === 'string') issue(['checksum'], span);
    }
    const seen = new Set<string>();
    f.fields.forEach((fd, i) => {
      const end = fd.at + binaryWidth(fd.type);
      if (end > limit) issue(['fields', i, 'at'], `field "${fd.point}" (${fd.type} at byte ${fd.at}) ends beyond the ${fixed !== undefined ? 'frame length' : 'maxLength'} ${limit}`);
      if (seen.has(fd.point)) issue(['fields', i, 'point'], `point "${fd.point}" defined twice`);
      seen.add(fd.point);
    });
  });

const textField = z.strictObject({
  ...valueShape,
  type: z.enum(['number', 'string', 'boolean']).default('number').describe('how the text is read; scale/offset apply to numbers'),
  group: z.string().min(1).optional().describe('regex: named group (default: the point name)'),
  column: z.int().min(0).max(1023).optional().describe('csv: column, 0 = first'),
  path: z.string().min(1).optional().describe('json: dotted path like "pm.2_5" or "values.0" (default: the point name)'),
});

/** Named groups of a regex, or an error text when it does not compile. */
export function regexGroups(source: string): string[] | string {
  try {
    // The empty alternative always matches, so every named group shows up (undefined).
    return Object.keys(new RegExp(`${source}|`).exec('')?.groups ?? {});
  } catch (err) {
    return `invalid regex: ${(err as Error).message}`;
  }
}

export const textFormat = z
  .strictObject({
    type: z.literal('text'),
    delimiter: z.string().min(1).default('\n').describe('end of a line; surrounding whitespace (like "\\r") is trimmed'),
    maxLine: z.int().min(8).max(4096).default(1024).describe('longest line in bytes; longer ones are dropped and counted'),
    ignore: z.string().min(1).optional().describe('regex of lines to skip without error (banners, CSV headers)'),
    regex: z.string().min(1).optional().describe('regex with named groups, one per point'),
    csv: z
      .union([z.literal(true), z.strictObject({ separator: z.string().min(1).default(',') })])
      .optional()
      .describe('true or { separator }: fields by column'),
    json: z.literal(true).optional().describe('one JSON object per line: fields by path'),
    fields: z.array(textField).min(1).optional(),
  })
  .superRefine((f, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const modes = (['regex', 'csv', 'json'] as const).filter((m) => f[m] !== undefined);
    if (modes.length !== 1) return issue([], `a text format needs exactly one of regex, csv or json${modes.length ? ` (got ${modes.join(' and ')})` : ''}`);
    const mode = modes[0];
    if (f.ignore !== undefined && typeof regexGroups(f.ignore) === 'string') issue(['ignore'], regexGroups(f.ignore) as string);
    const groups = f.regex !== undefined ? regexGroups(f.regex) : [];
    if (typeof groups === 'string') return issue(['regex'], groups);
    if (mode === 'regex' && !f.fields && groups.length === 0) issue(['regex'], 'regex has no named group like (?<pm25>\\d+) and no fields are listed');
    if (mode !== 'regex' && !f.fields) issue(['fields'], `${mode} needs a list of fields`);
    const seen = new Set<string>();
    (f.fields ?? []).forEach((fd, i) => {
      if (seen.has(fd.point)) issue(['fields', i, 'point'], `point "${fd.point}" defined twice`);
      seen.add(fd.point);
      const wrong = (['group', 'column', 'path'] as const).find((k) => fd[k] !== undefined && k !== { regex: 'group', csv: 'column', json: 'path' }[mode]);
      if (wrong) issue(['fields', i, wrong], `"${wrong}" does not apply to a ${mode} format`);
      if (mode === 'regex' && !groups.includes(fd.group ?? fd.point)) issue(['fields', i], `regex has no group named "${fd.group ?? fd.point}" (groups: ${groups.join(', ') || 'none'})`);
      if (mode === 'csv' && fd.column === undefined) issue(['fields', i, 'column'], `csv field "${fd.point}" needs a column`);
    });
  });

export const nmeaFormat = z.strictObject({
  type: z.literal('nmea').describe('NMEA 0183 GPS sentences (GGA, RMC): lat, lon, alt, sats, fix, hdop, time'),
});

export const formatSchema = z
  .discriminatedUnion('type', [textFormat, binaryFormat, nmeaFormat])
  .describe('inline framing: { type: text | binary | nmea, ... } (see docs/drivers/serial.md)');

export type BinaryFormat = z.infer<typeof binaryFormat>;
export type TextFormat = z.infer<typeof textFormat>;
export type NmeaFormat = z.infer<typeof nmeaFormat>;
export type SerialFormat = z.infer<typeof formatSchema>;
export type BinaryField = z.infer<typeof binaryField>;
export type TextField = z.infer<typeof textField>;

/** Line settings shared by the device config and profiles (the device's own values win). */
export const lineShape = {
  baudRate: z.int().min(50).max(4_000_000).optional().describe("bits per second (default: the profile's, else 9600)"),
  dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).optional().describe('default 8'),
  parity: z.enum(['none', 'even', 'odd']).optional().describe('default none'),
  stopBits: z.union([z.literal(1), z.literal(2)]).optional().describe('default 1'),
};

/** A built-in profile file (profiles/<name>.yaml|json). */
export const profileSchema = z.strictObject({
  description: z.string().min(1),
  ...lineShape,
  format: formatSchema,
});
export type SerialProfile = z.infer<typeof profileSchema>;

/** Round to `decimals`, or drop float noise (0.1 * 123 = 12.300000000000001) when unset. */
export function scaleValue(raw: number, f: { scale: number; offset: number; decimals?: number }): number {
  const v = raw * f.scale + f.offset;
  if (f.decimals !== undefined) return Number(v.toFixed(f.decimals));
  return f.scale === 1 && f.offset === 0 ? v : Number(v.toPrecision(12));
}
