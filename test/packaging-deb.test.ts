// The .deb (packaging/deb.ts, packaging/debian/): built for x64 at two versions; its metadata
// and contents read back with dpkg-deb; lintian finds no error; then a real dpkg install into a
// throw-away root (dpkg --root with its own dpkg database, maintainer scripts run chrootless
// with DPKG_ROOT set, as Debian does for bootstrapping): the wayside user made in the root's
// /etc, the installed agent run with the sim pole and /healthz seen, an identity enrolled with
// the installed wayside-fleet and wayside, readings queued in the outbox; the upgrade to the
// newer build keeps the outbox backlog, the identity and the edited conffile; remove keeps the
// config and state; purge leaves nothing. Not covered here (no systemd runs in this container):
// the service enable/start path of the scripts, which they skip under DPKG_ROOT.
// dpkg --force-depends: the throw-away root has no libc6/ffmpeg packages in its database.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageArch, sourceDateEpoch } from '../packaging/build.ts';
import { REPO } from '../packaging/bundle.ts';
import { buildDeb } from '../packaging/deb.ts';
import { freePort, pollHealth, start, testConfig, runAsBatchWork } from './support/packaging/index.ts';

runAsBatchWork();

const tmp = mkdtempSync(path.join(tmpdir(), 'wayside-pkg-deb-'));
const root = path.join(tmp, 'root');
const epoch = sourceDateEpoch();
let v1 = '';
let v2 = '';
let v1Bundle = '';
let v1Sha = '';
// lintian takes about a minute of one core: it starts as soon as the first .deb exists and runs
// while the other tests build and install (its test awaits it).
let lintian: Promise<{ status: number | null; out: string }>;

function runLintian(deb: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('lintian', ['--fail-on', 'error', '--no-tag-display-limit', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (status) => resolve({ status, out }));
    p.on('error', (err) => resolve({ status: null, out: String(err) }));
  });
}

beforeAll(async () => {
  const first = await packageArch({ arch: 'x64', version: '0.1.0', outDir: path.join(tmp, 'v1'), epoch, tarball: false });
  v1 = first.deb!.file;
  v1Sha = first.deb!.sha256;
  v1Bundle = first.bundle.dir;
  lintian = runLintian(v1);
  v2 = (await packageArch({ arch: 'x64', version: '0.1.1', outDir: path.join(tmp, 'v2'), epoch, tarball: false })).deb!.file;
}, 900_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const dpkg = (...args: string[]): string => {
  const r = spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', `--log=${tmp}/dpkg.log`, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dpkg ${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
};
const query = (): string => execFileSync('dpkg-query', [`--root=${root}`, '-s', 'wayside'], { encoding: 'utf8' });
const at = (p: string): string => path.join(root, p);
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
const outboxSeqs = (): number[] => {
  const db = new DatabaseSync(at('var/lib/wayside/outbox.db'), { readOnly: true });
  try {
    return (db.prepare('SELECT seq FROM outbox ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);
  } finally {
    db.close();
  }
};

it('has the right metadata, scripts and contents (dpkg-deb --info/--contents)', () => {
  const info = execFileSync('dpkg-deb', ['--info', v1], { encoding: 'utf8' });
  expect(info).toMatch(/^ Package: wayside$/m);
  expect(info).toMatch(/^ Version: 0\.1\.0$/m);
  expect(info).toMatch(/^ Architecture: amd64$/m);
  expect(info).toMatch(/^ Depends: .*\bffmpeg\b/m);
  for (const s of ['postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) expect(info).toContain(` ${s}`);
  expect(execFileSync('dpkg-deb', ['--field', v1, 'Installed-Size'], { encoding: 'utf8' }).trim()).toMatch(/^\d{5,}$/);
  expect(execFileSync('dpkg-deb', ['--ctrl-tarfile', v1]).length).toBeGreaterThan(0);
  const conffiles = execFileSync('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles', 'sh', v1], { encoding: 'utf8' });
  expect(conffiles).toBe('/etc/wayside/wayside.yaml\n');

  const lines = execFileSync('dpkg-deb', ['--contents', v1], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }).trim().split('\n');
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(' ').split(' -> ')[0]);
  for (const f of ['./opt/wayside/bin/wayside', './opt/wayside/node/bin/node', './opt/wayside/lib/main.js', './opt/wayside/lib/wayside-fleet.js', './etc/wayside/wayside.yaml', './lib/systemd/system/wayside.service', './usr/share/doc/wayside/copyright']) {
    expect(names, f).toContain(f);
  }
  expect(lines.find((l) => l.includes('./usr/bin/wayside ->'))).toMatch(/-> \/opt\/wayside\/bin\/wayside$/);
  // The unit the package installs starts the launcher the package ships.
  const unit = readFileSync(path.join(REPO, 'packaging/systemd/wayside.service'), 'utf8');
  for (const [, exe] of unit.matchAll(/^ExecStart(?:Pre)?=[-@:+!]*(\S+)/gm)) expect(names, exe).toContain(`.${exe}`);
  // The state is made by postinst, never shipped (dpkg would remove it with the package).
  expect(names.filter((n) => n.startsWith('./var/'))).toEqual([]);
  // --root-owner-group, and every mtime the build's epoch.
  expect(lines.filter((l) => l.split(/\s+/)[1] !== 'root/root')).toEqual([]);
  const day = new Date(epoch * 1000).toISOString().slice(0, 10);
  expect(lines.filter((l) => l.split(/\s+/)[3] !== day)).toEqual([]);
  expect(statSync(v1).size).toBeGreaterThan(20 * 2 ** 20);
});

it('gives the same .deb bytes for the same inputs', () => {
  const again = buildDeb({ arch: 'x64', version: '0.1.0', bundleDir: v1Bundle, outDir: path.join(tmp, 'v1-again'), epoch });
  expect(again.sha256).toBe(v1Sha);
  expect(sha(again.file)).toBe(v1Sha);
}, 300_000);


it('installs into a throw-away root, runs with the sim pole, upgrades keeping outbox, identity and config, then removes and purges', async () => {
  // A root with an empty dpkg database and the base accounts (dialout and video exist on
  // every Debian system: base-passwd).
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'etc', 'opt']) mkdirSync(at(d), { recursive: true });
  writeFileSync(at('var/lib/dpkg/status'), '');
  writeFileSync(at('var/lib/dpkg/available'), '');
  writeFileSync(at('etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(at('etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(at('etc/group'), 'root:x:0:\ndialout:x:20:\nvideo:x:44:\n');
  writeFileSync(at('etc/gshadow'), 'root:*::\ndialout:*::\nvideo:*::\n', { mode: 0o640 });

  // Install.
  dpkg('-i', v1);
  expect(query()).toMatch(/Status: install ok installed[\s\S]*Version: 0\.1\.0/);
  const user = readFileSync(at('etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('wayside:'));
  expect(user).toMatch(/^wayside:x:\d+:\d+:[^:]*:\/var\/lib\/wayside:\/usr\/sbin\/nologin$/);
  const uid = Number(user!.split(':')[2]);
  expect(uid).toBeGreaterThan(0);
  expect(uid).toBeLessThan(1000);
  const group = readFileSync(at('etc/group'), 'utf8');
  expect(group).toMatch(/^dialout:x:20:wayside$/m);
  expect(group).toMatch(/^video:x:44:wayside$/m);
  const st = statSync(at('var/lib/wayside'));
  expect(st.mode & 0o777).toBe(0o700);
  expect(st.uid).toBe(uid);

  // Enroll an identity with the installed tools (the platform side is wayside-fleet).
  const bin = at('opt/wayside/bin/wayside');
  const state = at('var/lib/wayside');
  execFileSync(at('opt/wayside/bin/wayside-fleet'), ['keygen', '--out', path.join(tmp, 'platform.key')], { encoding: 'utf8' });
  const uplinkPort = await freePort();
  execFileSync(at('opt/wayside/bin/wayside-fleet'), ['claim', '--offline', '--key', path.join(tmp, 'platform.key'), '--gw', 'pole-0001', '--broker', `mqtt://127.0.0.1:${uplinkPort}`, '--user', 'pole-0001', '--pass', 'secret', '--out', path.join(tmp, 'bundle.json')], { encoding: 'utf8' });
  execFileSync(bin, ['provision', '--file', path.join(tmp, 'bundle.json'), '--state', state], { encoding: 'utf8' });
  const identity = readdirSync(path.join(state, 'provisioning')).sort();
  expect(identity).toContain('gateway.key');
  const identitySums = Object.fromEntries(identity.map((f) => [f, sha(path.join(state, 'provisioning', f))]));

  // Run the installed agent on the shipped config, its state in the root; the broker is down,
  // so the readings stay in the outbox.
  const port = await freePort();
  const cfg = testConfig(at('etc/wayside/wayside.yaml'), path.join(tmp, 'run.yaml'), { stateDir: state, httpPort: port, uplinkPort });
  let agent = start(bin, ['run', '--config', cfg]);
  let h = await pollHealth(port, (b) => b.outbox?.depth >= 3, 45_000, agent.output);
  expect(h.gateway).toBe('pole-0001');
  expect(h.versions.wayside).toBe('0.1.0');
  expect(await agent.stop()).toBe(0);
  const backlog = outboxSeqs();
  expect(backlog.length).toBeGreaterThanOrEqual(3);

  // The operator edits the conffile; the upgrade must keep the edit.
  appendFileSync(at('etc/wayside/wayside.yaml'), '# edited by the operator\n');
  const conf = readFileSync(at('etc/wayside/wayside.yaml'), 'utf8');

  // Upgrade.
  dpkg('-i', v2);
  expect(query()).toMatch(/Version: 0\.1\.1/);
  expect(JSON.parse(readFileSync(at('opt/wayside/lib/package.json'), 'utf8')).version).toBe('0.1.1');
  expect(readFileSync(at('etc/wayside/wayside.yaml'), 'utf8')).toBe(conf);
  expect(existsSync(at('etc/wayside/wayside.yaml.dpkg-new'))).toBe(false);
  expect(outboxSeqs().slice(0, backlog.length)).toEqual(backlog);
  expect(Object.fromEntries(identity.map((f) => [f, sha(path.join(state, 'provisioning', f))]))).toEqual(identitySums);

  // The new version takes the backlog over.
  agent = start(bin, ['run', '--config', cfg]);
  h = await pollHealth(port, (b) => b.versions?.wayside === '0.1.1' && b.outbox?.depth >= backlog.length, 45_000, agent.output);
  expect(h.outbox.depth).toBeGreaterThanOrEqual(backlog.length);
  expect(await agent.stop()).toBe(0);
  expect(outboxSeqs().slice(0, backlog.length)).toEqual(backlog);

  // Remove: the program goes, config and state stay.
  dpkg('-r', 'wayside');
  expect(existsSync(at('opt/wayside'))).toBe(false);
  expect(readFileSync(at('etc/wayside/wayside.yaml'), 'utf8')).toBe(conf);
  expect(outboxSeqs().slice(0, backlog.length)).toEqual(backlog);
  expect(existsSync(path.join(state, 'provisioning/gateway.key'))).toBe(true);

  // Purge: nothing is left.
  dpkg('--purge', 'wayside');
  expect(existsSync(at('etc/wayside'))).toBe(false);
  expect(existsSync(at('var/lib/wayside'))).toBe(false);
  // dpkg takes /opt itself away when the package was its last user (base-files owns it on a
  // real system); either way nothing of wayside is left in it.
  expect(existsSync(at('opt')) ? readdirSync(at('opt')) : []).toEqual([]);
  expect(existsSync(at('usr/bin/wayside'))).toBe(false);
  expect(existsSync(at('lib/systemd/system/wayside.service'))).toBe(false);
  expect(readFileSync(at('etc/passwd'), 'utf8')).not.toMatch(/^wayside:/m);
  expect(readFileSync(at('etc/group'), 'utf8')).not.toMatch(/wayside/);
  expect(readdirSync(at('var/lib/dpkg/info')).filter((f) => f.startsWith('wayside'))).toEqual([]);
  expect(spawnSync('dpkg-query', [`--root=${root}`, '-s', 'wayside']).status).not.toBe(0);
}, 300_000);

it('passes lintian with no errors', async () => {
  const r = await lintian;
  const errors = r.out.split('\n').filter((l) => l.startsWith('E:'));
  expect(errors).toEqual([]);
  expect(r.status).toBe(0);
}, 600_000);
