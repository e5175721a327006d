// Reads the operator's YAML file into a WaysideConfig. Every problem is reported at once, one
// line each, as `wayside.yaml:14 uplink.port: expected integer 1-65535, got "abc"`, with the
// line of the offending YAML node (for a missing field, the line of the mapping that lacks it).
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { withConfigDir, type DriverRegistry } from '../drivers.ts';
import { parseErrorMap } from './fields.ts';
import { resolveConfig, type DevicesCheck } from './resolve.ts';
import { configSchema, type WaysideConfig } from './schema.ts';
import { collectInlineSecrets } from './secrets.ts';
import { yamlErrorAt } from './yaml-errors.ts';

export type { DevicesCheck } from './resolve.ts';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Checks over all devices whatever their driver (the composition root's cross-family checks). */
  checks?: DevicesCheck[];
}

/** A loaded file and what is worth saying about it without refusing it. */
export interface LoadResult {
  config: WaysideConfig;
  /** Same shape as errors; `check` prints them, `run` logs them. */
  warnings: ConfigIssue[];
}

export interface ConfigIssue {
  /** Basename of the config file, as shown in messages. */
  file: string;
  line?: number;
  /** Only for YAML syntax errors, where the line alone may not say enough. */
  column?: number;
  /** `uplink.port`, `devices[2].driver`; empty for the file as a whole (e.g. YAML syntax). */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const at = i.line === undefined ? '' : `:${i.line}${i.column === undefined ? '' : `:${i.column}`}`;
  return `${i.file}${at} ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/** Read and validate a config file. Throws ConfigError listing every problem found. */
export function loadConfig(file: string, registry: DriverRegistry, env: NodeJS.ProcessEnv = process.env, opts: Omit<LoadOptions, 'env'> = {}): WaysideConfig {
  return readConfig(file, registry, { ...opts, env }).config;
}

/**
 * loadConfig plus the checks that need the file itself: the state directory can be made, and
 * a file readable by every user holds no inline secret (a warning). What `check` and `run` use.
 */
export function readConfig(file: string, registry: DriverRegistry, opts: LoadOptions = {}): LoadResult {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    throw new ConfigError([{ file: path.basename(file), path: '', message: `cannot read config file ${path.resolve(file)}: ${why}` }]);
  }
  return parse(text, file, registry, { ...opts, checkStateDir: true, mode });
}

/** Validate config text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string, registry: DriverRegistry, env: NodeJS.ProcessEnv = process.env, opts: Omit<LoadOptions, 'env'> = {}): WaysideConfig {
  return parse(text, file, registry, { ...opts, env }).config;
}

function parse(text: string, file: string, registry: DriverRegistry, opts: LoadOptions & { checkStateDir?: boolean; mode?: number }): LoadResult {
  const env = opts.env ?? process.env;
  const base = path.basename(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true, merge: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => ({ file: base, ...yamlErrorAt(text, e, lineCounter), path: '' })));
  }
  const issue = (p: (string | number | symbol)[], message: string): ConfigIssue => ({
    file: base,
    line: lineOf(doc, lineCounter, p),
    path: formatPath(p),
    message,
  });

  const data = dropNulls(doc.toJS({ maxAliasCount: 100 }));
  if (data === undefined) throw new ConfigError([{ file: base, line: 1, path: '', message: 'the file is empty; expected at least "version: 1" and "gateway: { id: ... }"' }]);

  // Profile paths in device fields resolve against the config file's folder, never the cwd.
  const { result: parsed, inline } = collectInlineSecrets(() => withConfigDir(path.dirname(path.resolve(file)), () => configSchema(registry).safeParse(data, { error: parseErrorMap })));
  if (!parsed.success) {
    const issues: ConfigIssue[] = [];
    for (const iss of parsed.error.issues) {
      if (iss.code === 'unrecognized_keys') {
        // One zod issue lists every unknown key of a mapping; report each at its key's line,
        // under the path of the mapping (the message names the key).
        const lines = iss.message.split('\n');
        iss.keys.forEach((k, n) => issues.push({ ...issue([...iss.path, k], lines[n] ?? `unknown field "${k}"`), path: formatPath(iss.path) }));
      } else issues.push(issue(iss.path, iss.message));
    }
    throw new ConfigError(sortByLine(issues));
  }

  const { config, problems } = resolveConfig(parsed.data, path.dirname(path.resolve(file)), {
    env,
    registry,
    checks: opts.checks,
    checkStateDir: opts.checkStateDir,
  });
  if (problems.length) throw new ConfigError(sortByLine(problems.map((p) => issue(p.path, p.message))));

  const warnings: ConfigIssue[] = [];
  if (opts.mode !== undefined && opts.mode & 0o004 && inline.length) {
    const modeText = (opts.mode & 0o777).toString(8).padStart(4, '0');
    for (const p of pathsOfValues(data, new Set(inline))) {
      warnings.push(issue(p, `warning: this secret is written inline in a file every user can read (mode ${modeText}); chmod o-r the file, or use { env: NAME } or { file: PATH }`));
    }
  }
  return { config, warnings: sortByLine(warnings) };
}

/** Paths of the string leaves of `data` whose value is in `values` (where inline secrets sit). */
function pathsOfValues(data: unknown, values: Set<string>, at: (string | number)[] = []): (string | number)[][] {
  if (typeof data === 'string') return values.has(data) ? [at] : [];
  if (Array.isArray(data)) return data.flatMap((v, i) => pathsOfValues(v, values, [...at, i]));
  if (data !== null && typeof data === 'object') return Object.entries(data).flatMap(([k, v]) => pathsOfValues(v, values, [...at, k]));
  return [];
}

function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((x, i) => [x, i] as const).sort(([a, i], [b, j]) => (a.line ?? 0) - (b.line ?? 0) || i - j).map(([x]) => x);
}

export function formatPath(p: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/**
 * Line of the deepest YAML node along `p`. A mapping entry is located by its key (the value
 * of a block mapping starts a line later, and an empty value has no useful position); a
 * missing entry falls back to the mapping that should hold it.
 */
export function lineOf(doc: Document, lc: LineCounter, p: readonly (string | number | symbol)[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = (doc.contents as { range?: [number] } | null)?.range?.[0] ?? 0;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      offset = (pair.key as { range?: [number] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      node = node.items[seg];
      offset = (node as { range?: [number] }).range?.[0] ?? offset;
    } else break;
  }
  return lc.linePos(offset).line;
}

/** YAML `key:` with no value means "not set", like leaving the key out. */
function dropNulls(v: unknown): unknown {
  if (v === null) return undefined;
  if (Array.isArray(v)) return v.map((x) => (x === null ? null : dropNulls(x)));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as object)) if (x !== null) out[k] = dropNulls(x);
    return out;
  }
  return v;
}
