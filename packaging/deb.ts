// The .deb for one architecture, made with dpkg-deb from a staged bundle (bundle.ts):
//   /opt/wayside                         the bundle (runtime, agent, externals, docs)
//   /usr/bin/wayside, /usr/bin/wayside-fleet   symlinks to its launchers
//   /etc/wayside/wayside.yaml            the default config, a conffile
//   /lib/systemd/system/wayside.service  packaging/systemd/wayside.service
//   /var/lib/wayside                     made by postinst (the agent's state; never in the package)
// Maintainer scripts are in packaging/debian/. Reproducible: every mtime is SOURCE_DATE_EPOCH,
// owners are root (--root-owner-group), dpkg-deb sorts the members.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { normalizeModes, REPO } from './bundle.ts';
import type { Arch } from './externals.ts';

export const DEB_ARCH: Record<Arch, string> = { x64: 'amd64', arm64: 'arm64' };

export interface DebOptions {
  arch: Arch;
  version: string;
  /** The staged bundle root (bundle.ts's BundleResult.dir). */
  bundleDir: string;
  outDir: string;
  epoch: number;
  /** dpkg-deb compressor: gzip (default: fast, read by every dpkg) or xz (smaller, slow). */
  compression?: 'gzip' | 'xz';
  log?: (line: string) => void;
}

export interface DebResult {
  file: string;
  sha256: string;
  /** The staged package root (what dpkg-deb packed). */
  root: string;
}

const DEB_DIR = path.join(REPO, 'packaging/debian');

function files(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, base));
    else if (e.isFile()) out.push(path.relative(base, p));
  }
  return out.sort();
}

function changelog(version: string, epoch: number): Buffer {
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  const text = `wayside (${version}) stable; urgency=medium\n\n  * Release ${version}: see /opt/wayside/docs/install.md.\n\n -- Wayside maintainers <maintainers@wayside.invalid>  ${date}\n`;
  // gzip -n: no name, no time, so the same version gives the same bytes.
  const gz = gzipSync(text, { level: 9 });
  gz.writeUInt32LE(0, 4);
  return gz;
}

export function buildDeb(o: DebOptions): DebResult {
  const debArch = DEB_ARCH[o.arch];
  const stage = path.join(o.outDir, `deb-${o.arch}`);
  rmSync(stage, { recursive: true, force: true });
  const root = path.join(stage, 'root');
  const at = (p: string): string => path.join(root, p);
  for (const d of ['opt', 'usr/bin', 'etc/wayside', 'lib/systemd/system', 'usr/share/doc/wayside', 'usr/share/lintian/overrides', 'DEBIAN']) mkdirSync(at(d), { recursive: true });

  execFileSync('cp', ['-a', o.bundleDir, at('opt/wayside')]);
  symlinkSync('/opt/wayside/bin/wayside', at('usr/bin/wayside'));
  symlinkSync('/opt/wayside/bin/wayside-fleet', at('usr/bin/wayside-fleet'));
  copyFileSync(path.join(REPO, 'packaging/wayside.yaml'), at('etc/wayside/wayside.yaml'));
  copyFileSync(path.join(REPO, 'packaging/systemd/wayside.service'), at('lib/systemd/system/wayside.service'));
  copyFileSync(path.join(DEB_DIR, 'copyright'), at('usr/share/doc/wayside/copyright'));
  writeFileSync(at('usr/share/doc/wayside/changelog.gz'), changelog(o.version, o.epoch));
  copyFileSync(path.join(DEB_DIR, 'lintian-overrides'), at('usr/share/lintian/overrides/wayside'));
  normalizeModes(root);

  const payload = files(root).filter((f) => !f.startsWith('DEBIAN/'));
  const md5 = payload.map((f) => `${createHash('md5').update(readFileSync(path.join(root, f))).digest('hex')}  ${f}\n`).join('');
  writeFileSync(at('DEBIAN/md5sums'), md5);
  writeFileSync(at('DEBIAN/conffiles'), '/etc/wayside/wayside.yaml\n');
  for (const s of ['postinst', 'prerm', 'postrm']) copyFileSync(path.join(DEB_DIR, s), at(`DEBIAN/${s}`));
  const kib = Number(execFileSync('du', ['-sk', '--exclude=DEBIAN', root], { encoding: 'utf8' }).split('\t')[0]);
  const control = readFileSync(path.join(DEB_DIR, 'control'), 'utf8').replace('@VERSION@', o.version).replace('@DEB_ARCH@', debArch).replace('@INSTALLED_SIZE@', String(kib));
  writeFileSync(at('DEBIAN/control'), control);
  normalizeModes(at('DEBIAN'));
  for (const s of ['postinst', 'prerm', 'postrm']) execFileSync('chmod', ['0755', at(`DEBIAN/${s}`)]);
  for (const f of ['control', 'md5sums', 'conffiles']) execFileSync('chmod', ['0644', at(`DEBIAN/${f}`)]);
  // Every mtime the same, symlinks included.
  execFileSync('find', [root, '-exec', 'touch', '-h', '-d', `@${o.epoch}`, '{}', '+']);

  const file = path.join(o.outDir, `wayside_${o.version}_${debArch}.deb`);
  const comp = o.compression ?? 'gzip';
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${comp}`, ...(comp === 'gzip' ? ['-z6'] : []), '--build', root, file], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(o.epoch) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  o.log?.(`deb: ${path.basename(file)}`);
  return { file, sha256: execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0], root };
}
