// `npm run package -- --arch x64|arm64 [--version V] [--out DIR] [--no-deb]`: the bundle
// tarball and the .deb for one architecture (both when --arch is left out), in out/packaging/.
// SOURCE_DATE_EPOCH (default: the last commit's time) fixes every mtime, so the same inputs give
// the same bytes. docs/install.md says what is in them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildBundle, REPO, treeBytes, type BundleResult } from './bundle.ts';
import { buildDeb, type DebResult } from './deb.ts';
import { ARCHES, type Arch } from './externals.ts';

export interface PackageOptions {
  arch: Arch;
  version?: string;
  outDir?: string;
  cacheDir?: string;
  epoch?: number;
  deb?: boolean;
  /** Make the bundle .tar.gz (default true). */
  tarball?: boolean;
  log?: (line: string) => void;
}

export const DEFAULT_OUT = path.join(REPO, 'out/packaging');
export const DEFAULT_CACHE = path.join(REPO, '.cache/packaging');

/** SOURCE_DATE_EPOCH, else the last commit's time, else 0. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number {
  if (env.SOURCE_DATE_EPOCH) {
    const n = Number(env.SOURCE_DATE_EPOCH);
    if (!Number.isInteger(n) || n < 0) throw new Error(`SOURCE_DATE_EPOCH: expected whole seconds, got "${env.SOURCE_DATE_EPOCH}"`);
    return n;
  }
  try {
    return Number(execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) || 0;
  } catch {
    return 0;
  }
}

export function projectVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A Debian-compatible upstream version: digits first, then [A-Za-z0-9.+~-]. */
export const VERSION_RE = /^[0-9][A-Za-z0-9.+~]*(-[A-Za-z0-9.+~]+)?$/;

export async function packageArch(o: PackageOptions): Promise<{ bundle: BundleResult; deb?: DebResult; installedBytes: number }> {
  const version = o.version ?? projectVersion();
  if (!VERSION_RE.test(version)) throw new Error(`--version: "${version}" is not a package version (digits first, then letters, digits, . + ~ -)`);
  const outDir = o.outDir ?? DEFAULT_OUT;
  const epoch = o.epoch ?? sourceDateEpoch();
  const bundle = await buildBundle({ arch: o.arch, version, outDir, cacheDir: o.cacheDir ?? DEFAULT_CACHE, epoch, tarball: o.tarball, log: o.log });
  const deb = o.deb === false ? undefined : buildDeb({ arch: o.arch, version, bundleDir: bundle.dir, outDir, epoch, log: o.log });
  return { bundle, deb, installedBytes: treeBytes(bundle.dir) };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { arch: { type: 'string', multiple: true }, version: { type: 'string' }, out: { type: 'string' }, 'no-deb': { type: 'boolean' } },
  });
  const arches = (values.arch?.length ? values.arch : [...ARCHES]) as string[];
  for (const a of arches) if (!ARCHES.includes(a as Arch)) throw new Error(`--arch: expected ${ARCHES.join(' or ')}, got "${a}"`);
  for (const arch of arches as Arch[]) {
    const t0 = performance.now();
    const r = await packageArch({ arch, version: values.version, outDir: values.out ? path.resolve(values.out) : undefined, deb: !values['no-deb'], log: (l) => process.stderr.write(`package ${arch}: ${l}\n`) });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    if (r.bundle.tarball) process.stdout.write(`${path.relative(process.cwd(), r.bundle.tarball)}  sha256 ${r.bundle.sha256}\n`);
    if (r.deb) process.stdout.write(`${path.relative(process.cwd(), r.deb.file)}  sha256 ${r.deb.sha256}\n`);
    process.stdout.write(`${arch}: /opt/wayside ${(r.installedBytes / 2 ** 20).toFixed(1)} MiB, built in ${s} s (esbuild ${r.bundle.esbuildSeconds.toFixed(1)} s)\n`);
  }
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`package: ${err.message}\n`);
      process.exit(1);
    },
  );
}
