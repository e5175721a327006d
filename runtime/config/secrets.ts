// Secret fields: a plain string, `{ env: NAME }` or `{ file: PATH }`. Zod validates the form;
// reading the environment or the file happens afterwards in resolveSecrets(), because only the
// loader knows the environment and the config file's directory. Between the two steps an
// env/file secret is a SecretRef; after loadConfig/parseConfig it is the plain string.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export type SecretInput = string | { env: string } | { file: string };

/** An unresolved secret. Prints as "[secret]" so it cannot leak through a log or JSON dump. */
export class SecretRef {
  readonly source: { env: string } | { file: string };
  constructor(source: { env: string } | { file: string }) {
    this.source = source;
  }
  toJSON(): string {
    return '[secret]';
  }
  toString(): string {
    return '[secret]';
  }
}

const EMPTY = 'expected a non-empty secret (leave the field out for none)';

// Inline secrets seen while the loader parses a file: it warns when that file is world-readable.
let inlineSink: string[] | undefined;
/** Runs `parse` and returns the inline (plain string) secrets it met, by value. */
export function collectInlineSecrets<T>(parse: () => T): { result: T; inline: string[] } {
  const outer = inlineSink;
  inlineSink = [];
  try {
    const result = parse();
    return { result, inline: inlineSink };
  } finally {
    inlineSink = outer;
  }
}

// Never show the value: a mistyped secret is still (mostly) the secret.
const SECRET_FORMS = 'expected a string, { env: NAME } or { file: PATH }';

/**
 * Schema for a secret field. Use it in driver schemas for passwords, keys and tokens:
 * `password: secret().optional()`. Typed as string because that is what the driver receives
 * from loadConfig; parsing a driver schema on its own leaves env/file forms as SecretRef.
 */
export function secret(): z.ZodType<string, SecretInput> {
  const error = () => SECRET_FORMS;
  const form = z.union(
    [
      z.string({ error }),
      z.strictObject({ env: z.string({ error }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }, { error }).describe('read from this environment variable'),
      z.strictObject({ file: z.string({ error }).min(1) }, { error }).describe('read from this file (trailing newline trimmed; relative to the config file)'),
    ],
    { error },
  );
  const schema = form
    .transform((v, ctx): string => {
      if (typeof v !== 'string') return new SecretRef(v) as unknown as string;
      if (v === '') ctx.issues.push({ code: 'custom', input: v, message: EMPTY });
      else inlineSink?.push(v);
      return v;
    })
    .describe('a secret: a string, { env: NAME } or { file: PATH }');
  return schema as unknown as z.ZodType<string, SecretInput>;
}

export interface SecretProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Replace every SecretRef inside `value` (in place) by the secret it points at. Problems carry
 * the path of the field, never the secret; file paths are resolved against `baseDir`.
 */
export function resolveSecrets(value: unknown, env: NodeJS.ProcessEnv, baseDir: string): SecretProblem[] {
  const problems: SecretProblem[] = [];
  const visit = (node: unknown, at: (string | number)[]): unknown => {
    if (node instanceof SecretRef) {
      const r = readSecret(node, env, baseDir);
      if ('error' in r) problems.push({ path: at, message: r.error });
      return r.value;
    }
    if (Array.isArray(node)) node.forEach((v, i) => (node[i] = visit(v, [...at, i])));
    else if (node !== null && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      for (const k of Object.keys(obj)) obj[k] = visit(obj[k], [...at, k]);
    }
    return node;
  };
  visit(value, []);
  return problems;
}

function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv, baseDir: string): { value: string } | { value: undefined; error: string } {
  const src = ref.source;
  if ('env' in src) {
    const v = env[src.env];
    if (v === undefined) return { value: undefined, error: `environment variable ${src.env} is not set` };
    return v === '' ? { value: undefined, error: `environment variable ${src.env} is empty; ${EMPTY}` } : { value: v };
  }
  const file = path.resolve(baseDir, src.file);
  try {
    const v = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    return v === '' ? { value: undefined, error: `secret file ${file} is empty; ${EMPTY}` } : { value: v };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    return { value: undefined, error: `cannot read secret file ${file}: ${why}` };
  }
}
