// One model as a deploy target (`model-<name>`): the manifest's shape and the sha256 of the bytes
// checked before anything is stored, installed through the models registry (another service owns
// it; only this small interface is used), removed when rolling back past its first version.
import { createHash } from 'node:crypto';
import type { ModelInfo, ModelManifest, ModelTask } from '../../../models/types.ts';
import { CommandError } from '../../../runtime/uplink/index.ts';
import type { DeployTarget } from '../machine.ts';

export interface ModelRegistryLike {
  install(manifest: ModelManifest, bytes: Buffer): Promise<ModelInfo>;
  remove(name: string): Promise<void>;
  list(): ModelInfo[];
}

/** As stored and deployed: the manifest and the model file, base64. */
export interface ModelContent {
  manifest: ModelManifest;
  bytes: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const TASKS: ReadonlySet<string> = new Set<ModelTask>(['detect', 'ocr-det', 'ocr-rec']);

export function modelKey(name: string): string {
  return `model-${name}`;
}

/** Checks the manifest's shape; a CommandError naming the field. */
export function checkManifest(m: unknown): ModelManifest {
  const bad = (field: string, what: string): never => {
    throw new CommandError('invalid', `manifest.${field}: ${what}`);
  };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new CommandError('invalid', 'manifest: expected an object');
  const o = m as Record<string, unknown>;
  if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) bad('name', `expected lowercase letters, digits, ".", "_" or "-", got ${JSON.stringify(o.name)}`);
  if (typeof o.task !== 'string' || !TASKS.has(o.task)) bad('task', `expected one of ${[...TASKS].join(', ')}, got ${JSON.stringify(o.task)}`);
  if (typeof o.file !== 'string' || !o.file || o.file.includes('/') || o.file.includes('\\')) bad('file', 'expected a plain file name (no folders)');
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) bad('sha256', 'expected 64 lowercase hex digits');
  const input = o.input as Record<string, unknown> | undefined;
  if (typeof input !== 'object' || input === null) bad('input', 'expected { width, height }');
  for (const k of ['width', 'height']) {
    const v = input![k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 8192) bad(`input.${k}`, `expected an integer 1-8192, got ${JSON.stringify(v)}`);
  }
  return m as ModelManifest;
}

export function modelTarget(name: string, registry: () => ModelRegistryLike | undefined): DeployTarget<ModelContent> {
  const reg = () => {
    const r = registry();
    if (!r) throw new CommandError('models_unavailable', 'no models service runs on this gateway');
    return r;
  };
  return {
    key: modelKey(name),
    kind: 'model',
    async validate(content) {
      const c = content as Partial<ModelContent> | undefined;
      const manifest = checkManifest(c?.manifest);
      if (manifest.name !== name) throw new CommandError('invalid', `manifest.name "${manifest.name}" differs from the model deployed ("${name}")`);
      if (typeof c?.bytes !== 'string' || !c.bytes) throw new CommandError('bad_request', 'bytes: expected the model file, base64');
      const bytes = Buffer.from(c.bytes, 'base64');
      const sha = createHash('sha256').update(bytes).digest('hex');
      if (sha !== manifest.sha256) throw new CommandError('checksum_mismatch', `model "${name}": the bytes (${bytes.length}) hash to ${sha}, the manifest says ${manifest.sha256}`);
      reg();
      return { manifest, bytes: c.bytes };
    },
    async switch(content) {
      if (!content) {
        if (reg().list().some((m) => m.name === name)) await reg().remove(name);
        return { removed: name };
      }
      const info = await reg().install(content.manifest, Buffer.from(content.bytes, 'base64'));
      return { installed: info.name, bytes: info.bytes };
    },
    check() {
      // The registry must list it afterwards (a registry that dropped it on load failure counts).
      return registry()?.list().some((m) => m.name === name) ? undefined : `model "${name}" is not listed by the models registry`;
    },
  };
}
