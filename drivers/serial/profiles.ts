// Built-in sensor profiles: data files in profiles/ (<name>.yaml, .yml or .json), checked by
// the same schema as an inline `format:`. Adding a sensor means adding a file.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { profileSchema, type SerialProfile } from './format.ts';

export const PROFILE_DIR = fileURLToPath(new URL('./profiles/', import.meta.url));
const EXT_RE = /\.(ya?ml|json)$/;

/** A profile file that does not parse or does not match the schema. */
export class ProfileError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`serial profile ${file}: ${message}`);
    this.name = 'ProfileError';
    this.file = file;
  }
}

/** Names of the built-in profiles (file names without extension), sorted. */
export function profileNames(dir = PROFILE_DIR): string[] {
  return readdirSync(dir).filter((f) => EXT_RE.test(f)).map((f) => f.replace(EXT_RE, '')).sort();
}

/** Reads and validates one profile; throws ProfileError naming the file and field. */
export function loadProfile(name: string, dir = PROFILE_DIR): SerialProfile {
  const file = readdirSync(dir).find((f) => EXT_RE.test(f) && f.replace(EXT_RE, '') === name);
  if (!file) throw new ProfileError(name, `no such profile (known: ${profileNames(dir).join(', ')})`);
  const full = path.join(dir, file);
  let data: unknown;
  try {
    const text = readFileSync(full, 'utf8');
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ProfileError(full, (err as Error).message);
  }
  const res = profileSchema.safeParse(data);
  if (!res.success) {
    const issues = res.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new ProfileError(full, issues.join('; '));
  }
  return res.data;
}
