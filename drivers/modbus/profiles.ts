// Device profiles: the register map of a device model as a YAML file in profiles/ (or any
// path), validated by the same point schema as inline config points. Errors name the profile
// file, its line, the point and the field: `energy-meter.yaml:14 points[3] (voltage_a).type: ...`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { int, parseErrorMap, section, text } from '../../runtime/config/fields.ts';
import { formatPath, lineOf } from '../../runtime/config/loader.ts';
import { pointList, type ModbusPoint } from './point-schema.ts';

export const PROFILES_DIR = fileURLToPath(new URL('./profiles/', import.meta.url));

export interface ModbusProfile {
  /** The reference as written in the config (`energy-meter` or a path). */
  ref: string;
  /** Absolute path of the file it was read from. */
  file: string;
  vendor?: string;
  model?: string;
  description?: string;
  /** Limits of the device model; a device's own settings win. */
  maxRegistersPerRequest?: number;
  maxGap?: number;
  points: ModbusPoint[];
}

export const profileFileSchema = section({
  vendor: text().optional(),
  model: text().optional(),
  description: text().optional(),
  maxRegistersPerRequest: int(1, 125).optional().describe('registers this model serves per request at most'),
  maxGap: int(0, 125).optional(),
  points: pointList().min(1),
});

export class ProfileError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = 'ProfileError';
    this.file = file;
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

/** `energy-meter` -> the shipped profiles/energy-meter.yaml; anything with a slash or .yaml is a path. */
export function profilePath(ref: string, baseDir = process.cwd()): string {
  if (NAME_RE.test(ref) && !/\.ya?ml$/.test(ref)) return path.join(PROFILES_DIR, `${ref}.yaml`);
  return path.resolve(baseDir, ref);
}

export function listProfiles(): string[] {
  return readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

export function loadProfile(ref: string, baseDir?: string): ModbusProfile {
  const file = profilePath(ref, baseDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const known = NAME_RE.test(ref) ? ` (shipped profiles: ${listProfiles().join(', ')})` : '';
    throw new ProfileError(file, `profile "${ref}": cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}${known}`);
  }
  return parseProfile(text, file, ref);
}

export function parseProfile(text: string, file: string, ref = file): ModbusProfile {
  const base = path.basename(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ProfileError(file, `profile ${base}:${e.linePos?.[0].line ?? '?'}: YAML syntax: ${e.message.split('\n')[0]}`);
  }
  const data = doc.toJS() as unknown;
  const parsed = profileFileSchema.safeParse(data, { error: parseErrorMap });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((iss) => {
      const p = iss.code === 'unrecognized_keys' ? [...iss.path, iss.keys[0]] : iss.path;
      const line = lineOf(doc, lc, p);
      return `profile ${base}${line ? `:${line}` : ''} ${describePath(data, iss.path)}: ${iss.message}`;
    });
    throw new ProfileError(file, lines.join('\n'));
  }
  const { points, ...rest } = parsed.data;
  return { ref, file, ...rest, points };
}

/** `points[3] (voltage_a).type`: the point's name makes the message findable without counting. */
function describePath(data: unknown, p: readonly PropertyKey[]): string {
  if (p[0] === 'points' && typeof p[1] === 'number') {
    const name = (data as { points?: { name?: unknown }[] })?.points?.[p[1]]?.name;
    const head = `points[${p[1]}]${typeof name === 'string' ? ` (${name})` : ''}`;
    const tail = formatPath(p.slice(2) as (string | number)[]);
    return tail ? `${head}.${tail}` : head;
  }
  return formatPath(p as (string | number)[]) || 'file';
}

/**
 * The points a device polls: the profile's, with inline entries of the same name replacing
 * them whole and new names appended.
 */
export function mergePoints(profile: ModbusProfile | undefined, inline: ModbusPoint[]): ModbusPoint[] {
  if (!profile) return inline;
  const byName = new Map(profile.points.map((p) => [p.name, p]));
  for (const p of inline) byName.set(p.name, p);
  return [...byName.values()];
}

export type ProfileSchemaOutput = z.output<typeof profileFileSchema>;
