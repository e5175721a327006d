// Leaf field builders for the config schema. Every builder attaches one error function so a
// field reports the same operator-readable line whatever check failed:
// `expected integer 0-65535, got "abc"`. Zod falls back from a failed check to the error of
// the schema that owns it, so one `error` per field covers type, range and pattern failures.
import { z } from 'zod';

export const MISSING = 'missing required field';

/** The raw issue fields our error functions read (zod passes the full raw issue). */
interface RawIssue {
  code?: string;
  input?: unknown;
}

/**
 * A value as shown after "got". Mappings and lists are named, not printed: they may hold a
 * secret, and a whole block of YAML in one error line reads badly anyway.
 */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}..."` : s;
}

/** Error function: `missing required field` or `expected <what>, got <value>`. */
export function expected(what: string) {
  return (iss: RawIssue): string | undefined => {
    // Unknown keys are reported by unknownKeysError, which knows the sibling names.
    if (iss.code === 'unrecognized_keys') return undefined;
    return iss.input === undefined ? MISSING : `expected ${what}, got ${show(iss.input)}`;
  };
}

export function int(min: number, max: number) {
  return z.int({ error: expected(`integer ${min}-${max}`) }).min(min).max(max);
}

export function num(what = 'a number') {
  return z.number({ error: expected(what) });
}

export function bool() {
  return z.boolean({ error: expected('true or false') });
}

export function text(what = 'a non-empty string') {
  return z.string({ error: expected(what) }).min(1);
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: expected(`one of ${values.join(', ')}`) });
}

/** Ids end up in MQTT topics and file names: keep them to a safe, lowercase alphabet. */
export const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export function id() {
  return z
    .string({ error: expected('an id of 1-64 lowercase letters, digits, ".", "_" or "-" starting with a letter or digit') })
    .regex(ID_RE);
}

/** Describe a field, keeping the range text a duration()/size() field already carries. */
export function about<T extends z.ZodType>(schema: T, text: string): T {
  return schema.describe(schema.description ? `${text}; ${schema.description}` : text);
}

/** A mapping section with a fixed set of keys; unknown keys are errors (see unknownKeysError). */
export function section<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.strictObject(shape, { error: expected('a mapping') });
}

/**
 * Parse-level error map: the only issue left to it is "unknown keys", which it turns into one
 * line per key with a did-you-mean. `inst` is the object schema that raised the issue, so its
 * shape gives the known names. Lines are split back into one issue per key by the loader.
 */
export function unknownKeysError(iss: { code?: string; keys?: string[]; inst?: unknown }): string | undefined {
  if (iss.code !== 'unrecognized_keys' || !iss.keys) return undefined;
  const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } })?._zod?.def?.shape ?? {};
  const known = Object.keys(shape);
  return iss.keys.map((k) => `unknown field ${JSON.stringify(k)}${didYouMean(k, known)}`).join('\n');
}

interface ZodRawIssue {
  code?: string;
  input?: unknown;
  expected?: string;
  origin?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  values?: unknown[];
  format?: string;
  pattern?: string;
  divisor?: number;
}

const TYPE_NAMES: Record<string, string> = { int: 'an integer', object: 'a mapping', array: 'a list', boolean: 'true or false', record: 'a mapping' };

/**
 * Fallback for schemas that carry no error of their own (driver schemas written with plain
 * zod): same `expected ..., got ...` shape as our own fields.
 */
export function genericError(iss: ZodRawIssue): string | undefined {
  const got = show(iss.input);
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return MISSING;
      return `expected ${TYPE_NAMES[iss.expected ?? ''] ?? `a ${iss.expected}`}, got ${got}`;
    case 'too_big':
    case 'too_small': {
      const big = iss.code === 'too_big';
      const limit = String(big ? iss.maximum : iss.minimum);
      const cmp = big ? (iss.inclusive ? 'at most' : 'less than') : iss.inclusive ? 'at least' : 'more than';
      if (iss.origin === 'string') return `expected ${cmp} ${limit} characters, got ${got}`;
      if (iss.origin === 'array' || iss.origin === 'set') {
        const n = Array.isArray(iss.input) ? ` of ${iss.input.length}` : '';
        return `expected a list of ${cmp} ${limit} items, got a list${n}`;
      }
      return `expected a number ${cmp} ${limit}, got ${got}`;
    }
    case 'invalid_value':
      return `expected ${iss.values?.length === 1 ? '' : 'one of '}${(iss.values ?? []).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}, got ${got}`;
    case 'invalid_format':
      return `expected ${iss.format === 'regex' ? `a string matching ${iss.pattern}` : `a valid ${iss.format}`}, got ${got}`;
    case 'not_multiple_of':
      return `expected a multiple of ${iss.divisor}, got ${got}`;
    default:
      return undefined;
  }
}

/** The parse-level error map the loader uses: unknown keys, then the generic fallback. */
export function parseErrorMap(iss: ZodRawIssue & { keys?: string[]; inst?: unknown }): string | undefined {
  return unknownKeysError(iss) ?? genericError(iss);
}

// Names other tools and data sheets use for a field we call differently (Modbus word order,
// register, function code...). Suggested only when the target is a field of that mapping.
const ALIASES: Record<string, string[]> = {
  order: ['wordorder', 'byteorder', 'endian', 'endianness', 'endianess', 'swap'],
  address: ['register', 'reg', 'addr', 'start'],
  table: ['fc', 'function', 'functioncode', 'registertype'],
  type: ['datatype', 'format', 'kind'],
  scale: ['factor', 'multiplier', 'gain'],
  unitId: ['slave', 'slaveid', 'unit_id', 'deviceid'],
  baudRate: ['baud', 'baudrate', 'speed'],
  interval: ['pollinterval', 'period', 'rate'],
};

export function didYouMean(word: string, known: string[]): string {
  const w = word.toLowerCase();
  const alias = known.find((k) => ALIASES[k]?.includes(w));
  if (alias) return ` (did you mean ${JSON.stringify(alias)}?)`;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = distance(w, k.toLowerCase());
    if (d < bestDist) [best, bestDist] = [k, d];
  }
  // Allow roughly one typo per three letters, at least one: "prot" -> "port", not "id" -> "url".
  const limit = Math.max(1, Math.floor(word.length / 3));
  if (best !== undefined && bestDist <= limit) return ` (did you mean ${JSON.stringify(best)}?)`;
  // A known name with a qualifier around it: "wordOrder" -> "order", "pollInterval" -> "interval".
  const inside = known.filter((k) => k.length >= 4 && (w.endsWith(k.toLowerCase()) || w.startsWith(k.toLowerCase())));
  return inside.length === 1 ? ` (did you mean ${JSON.stringify(inside[0])}?)` : '';
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair of letters is one typo. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
