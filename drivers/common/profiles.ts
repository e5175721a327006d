// One profile loader for every family: a device model as a data file (YAML, or JSON, which is
// YAML), validated by the family's own schema. A reference is a shipped profile name
// (`energy-meter`) or a path, resolved against the config file's directory, never the working
// directory. Errors name the file, the line and the field: `profile meter.yaml:14 points[3]
// (voltage_a).type: ...`.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseErrorMap, text } from '../../runtime/config/fields.ts';
import { formatPath, lineOf } from '../../runtime/config/loader.ts';
import { configDir } from '../../runtime/drivers.ts';

export interface ProfileKind<S extends z.ZodType> {
  /** Family name, for messages. */
  family: string;
  /** Folder of the shipped profiles. */
  dir: string;
  schema: S;
  /** Path text of an issue; default `a.b[2].c` (modbus names the point). */
  describePath?(data: unknown, p: readonly PropertyKey[]): string;
}

/** Where a profile came from, kept with its data. */
export interface ProfileOrigin {
  /** The reference as written in the config (`energy-meter` or a path). */
  ref: string;
  /** Absolute path of the file it was read from. */
  file: string;
}

export class ProfileError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = 'ProfileError';
    this.file = file;
  }
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const EXT_RE = /\.(ya?ml|json)$/;

/** Shipped profile names (file names without extension), sorted. */
export function shippedProfiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => EXT_RE.test(f)).map((f) => f.replace(EXT_RE, '')).sort();
}

/**
 * `pms5003` -> the shipped file; anything with a slash or an extension is a path, relative to
 * `baseDir` (the config file's directory). A relative path without a base is refused: the
 * working directory of a service is no place to look for an operator's file.
 */
export function profileFile(ref: string, dir: string, baseDir: string | undefined): string {
  if (NAME_RE.test(ref) && !EXT_RE.test(ref)) {
    const f = readdirSync(dir).find((x) => EXT_RE.test(x) && x.replace(EXT_RE, '') === ref);
    return path.join(dir, f ?? `${ref}.yaml`);
  }
  if (path.isAbsolute(ref)) return ref;
  if (baseDir === undefined) throw new ProfileError(ref, `profile "${ref}": a relative path needs the config file's directory; give an absolute path`);
  return path.resolve(baseDir, ref);
}

export function loadProfile<S extends z.ZodType>(kind: ProfileKind<S>, ref: string, baseDir?: string): z.output<S> & ProfileOrigin {
  const file = profileFile(ref, kind.dir, baseDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const known = NAME_RE.test(ref) && !EXT_RE.test(ref) ? ` (shipped ${kind.family} profiles: ${shippedProfiles(kind.dir).join(', ')})` : '';
    throw new ProfileError(file, `profile "${ref}": cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}${known}`);
  }
  return parseProfile(kind, text, file, ref);
}

export function parseProfile<S extends z.ZodType>(kind: ProfileKind<S>, text: string, file: string, ref = file): z.output<S> & ProfileOrigin {
  const base = path.basename(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ProfileError(file, `profile ${base}:${e.linePos?.[0].line ?? '?'}: YAML syntax: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const data = doc.toJS() as unknown;
  const parsed = kind.schema.safeParse(data, { error: parseErrorMap });
  if (!parsed.success) {
    const describe = kind.describePath ?? ((_d: unknown, p: readonly PropertyKey[]) => formatPath(p as (string | number)[]) || 'file');
    const lines = parsed.error.issues.map((iss) => {
      const p = iss.code === 'unrecognized_keys' ? [...iss.path, iss.keys[0]] : iss.path;
      const line = lineOf(doc, lc, p);
      return `profile ${base}${line ? `:${line}` : ''} ${describe(data, iss.path)}: ${iss.message}`;
    });
    throw new ProfileError(file, lines.join('\n'));
  }
  return { ...(parsed.data as object), ref, file } as z.output<S> & ProfileOrigin;
}

/**
 * The `profile:` device field: a shipped name or a path, loaded and validated while the config
 * is checked, so `wayside check` reports a broken profile with the profile's file and line.
 */
export function profileField<S extends z.ZodType>(kind: ProfileKind<S>, what: string) {
  return text(what)
    .transform((ref, ctx): z.output<S> & ProfileOrigin => {
      try {
        return loadProfile(kind, ref, configDir());
      } catch (err) {
        ctx.issues.push({ code: 'custom', input: ref, message: (err as Error).message });
        return z.NEVER;
      }
    });
}
