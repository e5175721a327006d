// `wayside models list [--json]` and `wayside models add <file.onnx> --name N [--classes a,b]
// [--layout yolov5|yolov8]`: the operator's view of the model registry, without a running agent.
// `add` loads the file in onnxruntime, reads its input size, layout and class names from the
// model itself, checks it fits, and installs it (atomic write) where the agent finds it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { silentLog } from '../runtime/log.ts';
import { createEngine } from './engine.ts';
import { createRegistry, MODEL_NAME_RE, type InstallFields } from './registry.ts';
import type { YoloLayout } from './types.ts';
import { parseUltralyticsNames } from './yolo.ts';

export interface ModelsCliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** gateway.stateDir (absolute); the models live in <stateDir>/models unless modelsDir says. */
  stateDir: string;
  /** models.dir resolved (absolute). */
  modelsDir?: string;
}

const USAGE = `usage:
  wayside models list [--json]
  wayside models add <file.onnx> --name <name> [--classes a,b,...] [--layout yolov5|yolov8]
`;

class UsageError extends Error {}

export async function modelsCli(argv: string[], io: ModelsCliIo): Promise<number> {
  try {
    const [verb, ...rest] = argv;
    if (verb === 'list') return await list(rest, io);
    if (verb === 'add') return await add(rest, io);
    if (verb === undefined || verb === 'help' || verb === '--help' || verb === '-h') {
      io.stdout.write(USAGE);
      return verb === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown models command "${verb}"`);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`wayside models: ${err.message}\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`wayside models: ${(err as Error).message}\n`);
    return 1;
  }
}

function args(argv: string[], options: ParseArgsOptionsConfig) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options });
  } catch (err) {
    throw new UsageError(String((err as Error).message).split(/\. /)[0].replace(/\.$/, ''));
  }
}

const dirOf = (io: ModelsCliIo) => io.modelsDir ?? path.join(io.stateDir, 'models');

async function list(argv: string[], io: ModelsCliIo): Promise<number> {
  const { values, positionals } = args(argv, { json: { type: 'boolean' } });
  if (positionals.length) throw new UsageError(`list takes no arguments, got "${positionals[0]}"`);
  const reg = createRegistry({ dir: dirOf(io) });
  const rows = [];
  for (const m of reg.list()) {
    const v = await reg.verify(m.name);
    rows.push({
      name: m.name, task: m.task, origin: m.origin ?? 'installed', input: m.input, ...(m.layout ? { layout: m.layout } : {}),
      classes: m.classes?.length ?? 0, bytes: m.bytes, sha256: m.sha256, verified: v.ok, ...(v.error ? { error: v.error } : {}),
    });
  }
  for (const p of reg.problems()) io.stderr.write(`warning: ${p}\n`);
  if (values.json) {
    io.stdout.write(JSON.stringify({ dir: reg.dir, models: rows }, null, 2) + '\n');
    return rows.every((r) => r.verified) ? 0 : 1;
  }
  const table = [
    ['NAME', 'TASK', 'ORIGIN', 'INPUT', 'CLASSES', 'SIZE', 'SHA256', 'VERIFIED'],
    ...rows.map((r) => [r.name, r.task, r.origin, `${r.input.width}x${r.input.height}`, r.classes ? String(r.classes) : '-', humanSize(r.bytes), r.sha256.slice(0, 12), r.verified ? 'ok' : `NO${r.error ? ` (${r.error})` : ' (sha256 differs)'}`]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  for (const row of table) io.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ') + '\n');
  if (!rows.length) io.stdout.write(`(no models in ${reg.dir})\n`);
  return rows.every((r) => r.verified) ? 0 : 1;
}

async function add(argv: string[], io: ModelsCliIo): Promise<number> {
  const { values, positionals } = args(argv, { name: { type: 'string' }, classes: { type: 'string' }, layout: { type: 'string' } });
  const [file, extra] = positionals;
  if (!file) throw new UsageError('add needs the .onnx file');
  if (extra) throw new UsageError(`add takes one file, got also "${extra}"`);
  const name = values.name as string | undefined;
  if (!name) throw new UsageError('add needs --name');
  if (!MODEL_NAME_RE.test(name)) throw new UsageError(`--name: expected 1-64 lowercase letters, digits, ".", "_" or "-", got "${name}"`);
  const layout = values.layout as string | undefined;
  if (layout !== undefined && layout !== 'yolov5' && layout !== 'yolov8') throw new UsageError(`--layout: expected yolov5 or yolov8, got "${layout}"`);
  const classes = values.classes === undefined ? undefined : String(values.classes).split(',').map((c) => c.trim());
  if (classes && (!classes.length || classes.some((c) => !c))) throw new UsageError(`--classes: expected names separated by commas, got "${String(values.classes)}"`);

  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new Error(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const engine = createEngine({ threads: 1, log: silentLog() });
  try {
    // What the file says about itself (input size, layout, class count and names)...
    const seen = await engine.check({ name, task: 'detect', ...(classes ? { classes } : {}), ...(layout ? { layout: layout as YoloLayout } : {}) }, bytes);
    const fromMeta = seen.names !== undefined ? parseUltralyticsNames(seen.names) : undefined;
    const fields: InstallFields = {
      name,
      task: 'detect',
      input: seen.input,
      layout: seen.layout,
      ...((classes ?? fromMeta) ? { classes: classes ?? fromMeta } : {}),
    };
    // ...then the install checks it again as the agent will load it, and writes it.
    const reg = createRegistry({ dir: dirOf(io), validate: (m, b) => engine.check(m, b) });
    const info = await reg.install(fields, bytes);
    const named = info.classes ? `${info.classes.length} classes (${info.classes.slice(0, 5).join(', ')}${info.classes.length > 5 ? ', ...' : ''})` : `${seen.classes?.length ?? 0} unnamed classes`;
    io.stdout.write(`installed ${info.name}: ${info.layout} ${info.input.width}x${info.input.height}, ${named}, ${humanSize(info.bytes)}, sha256 ${info.sha256.slice(0, 12)} -> ${path.dirname(info.path)}\n`);
    return 0;
  } finally {
    await engine.close();
  }
}

function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
