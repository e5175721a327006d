// The per-arch bundle (packaging/bundle.ts): both arches built for real (esbuild, the npm
// installs for the target cpu, the registry's node-linux-<arch> runtime); every native binary
// in each is an ELF for that arch (header read here); nothing for another platform is left;
// the same inputs give the same tarball bytes; the x64 bundle's own runtime runs the agent.
// The first run downloads from the npm registry into .cache/packaging (the project's own
// set-up step, `npm run package`); later runs use that cache.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFlags, REPO, treeBytes } from '../packaging/bundle.ts';
import { packageArch, sourceDateEpoch } from '../packaging/build.ts';
import { ELF_MACHINE, nativeFiles, type Arch } from '../packaging/externals.ts';
import { byPathSegments, freePort, LOAD_NATIVES, pollHealth, start, testConfig, runAsBatchWork } from './support/packaging/index.ts';

runAsBatchWork();

const out = mkdtempSync(path.join(tmpdir(), 'wayside-pkg-bundle-'));
const epoch = sourceDateEpoch();
const built: Partial<Record<Arch, Awaited<ReturnType<typeof packageArch>>>> = {};

beforeAll(async () => {
  for (const arch of ['x64', 'arm64'] as Arch[]) {
    const t0 = performance.now();
    built[arch] = await packageArch({ arch, version: '0.1.0-test.1', outDir: path.join(out, arch), epoch, deb: false });
    console.log(`bundle ${arch}: ${((performance.now() - t0) / 1000).toFixed(1)} s, esbuild ${built[arch]!.bundle.esbuildSeconds.toFixed(1)} s, /opt/wayside ${(treeBytes(built[arch]!.bundle.dir) / 2 ** 20).toFixed(1)} MiB`);
  }
}, 900_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.each(['x64', 'arm64'] as Arch[])('%s bundle', (arch) => {
  it('has every native binary as an ELF for its arch, and none for another platform', () => {
    const dir = built[arch]!.bundle.dir;
    const natives = nativeFiles(dir);
    const rel = natives.map((n) => path.relative(dir, n.file));
    // The runtime and the three native addons the agent loads are all there…
    expect(rel).toContain('node/bin/node');
    for (const re of [/^lib\/node_modules\/@serialport\/bindings-cpp\/prebuilds\/linux-/, /^lib\/node_modules\/@img\/sharp-linux-/, /^lib\/node_modules\/@img\/sharp-libvips-linux-/, /^lib\/node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\//]) {
      expect(rel.some((f) => re.test(f)), `a native file matching ${re}`).toBe(true);
    }
    // …and each is an ELF of the target machine (e_machine 0x3e x86-64, 0xb7 aarch64).
    const wrong = natives.filter((n) => n.kind !== `elf:${ELF_MACHINE[arch]}`).map((n) => `${path.relative(dir, n.file)} ${n.kind}`);
    expect(wrong).toEqual([]);
    // onnxruntime-node ships every platform: only linux/<arch> is left.
    expect(readdirSync(path.join(dir, 'lib/node_modules/onnxruntime-node/bin/napi-v6'))).toEqual(['linux']);
    expect(readdirSync(path.join(dir, 'lib/node_modules/onnxruntime-node/bin/napi-v6/linux'))).toEqual([arch]);
  });

  it('has the bundles, the launchers with packaging/node-flags, the default config and docs', () => {
    const dir = built[arch]!.bundle.dir;
    for (const f of ['lib/main.js', 'lib/wayside-fleet.js', 'lib/flows/nodes/wayside-in.js', 'lib/flows/nodes/wayside-in.html', 'lib/drivers/modbus/profiles', 'share/wayside.yaml', 'docs/install.md', 'docs/config.md', 'node/LICENSE']) {
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    }
    const launcher = readFileSync(path.join(dir, 'bin/wayside'), 'utf8');
    expect(launcher).toContain(`"$root/node/bin/node" ${nodeFlags()} "$root/lib/main.js"`.replace('  ', ' '));
    // The externals are not bundled: no node_modules source inside the agent's bundle.
    const main = readFileSync(path.join(dir, 'lib/main.js'), 'utf8');
    expect(main).not.toMatch(/from ["']\.\.?\/[^"']*\.ts["']/);
    expect(JSON.parse(readFileSync(path.join(dir, 'lib/package.json'), 'utf8')).version).toBe('0.1.0-test.1');
  });
});

it('gives the same tarball bytes for the same inputs', async () => {
  const again = await packageArch({ arch: 'x64', version: '0.1.0-test.1', outDir: path.join(out, 'x64-again'), epoch, deb: false });
  expect(again.bundle.sha256).toBe(built.x64!.bundle.sha256);
  // Entries sorted, owners 0, every mtime the epoch.
  const list = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', again.bundle.tarball!], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }).trim().split('\n');
  const names = list.map((l) => l.split(/\s+/).slice(5).join(' ').split(' -> ')[0]);
  expect(names).toEqual([...names].sort(byPathSegments));
  expect(list.every((l) => l.split(/\s+/)[1] === '0/0')).toBe(true);
  const when = new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
  expect(list.filter((l) => !l.includes(when))).toEqual([]);
}, 300_000);

it('runs the agent with the x64 bundle’s own runtime: native addons load, version, check, a sim pole with a flow, /healthz', async () => {
  const dir = built.x64!.bundle.dir;
  const bin = path.join(dir, 'bin/wayside');
  // The externals load from lib/node_modules with the bundle's node (native parts included).
  expect(execFileSync(path.join(dir, 'node/bin/node'), ['-e', LOAD_NATIVES], { cwd: path.join(dir, 'lib'), encoding: 'utf8' }).trim()).toBe('ok');
  expect(execFileSync(bin, ['version'], { encoding: 'utf8' })).toBe('wayside 0.1.0-test.1 node 24.21.0\n');
  // The default config passes `wayside check` as shipped.
  expect(execFileSync(bin, ['check', '--config', path.join(dir, 'share/wayside.yaml')], { encoding: 'utf8' })).toMatch(/ok \(gateway pole-0001/);
  const port = await freePort();
  const cfg = testConfig(path.join(dir, 'share/wayside.yaml'), path.join(out, 'run.yaml'), { stateDir: path.join(out, 'state'), httpPort: port, uplinkPort: await freePort() });
  // A flow with the wayside nodes: Node-RED (external) loads them from lib/flows/nodes.
  mkdirSync(path.join(out, 'state/flows'), { recursive: true });
  copyFileSync(path.join(REPO, 'flows/examples/pm25-alarm.json'), path.join(out, 'state/flows/flows.json'));
  const agent = start(bin, ['run', '--config', cfg]);
  try {
    const h = await pollHealth(port, (b) => b.outbox?.depth > 0 && b.flows?.state === 'running', 45_000, agent.output);
    expect(h.flows).toMatchObject({ nodeErrors: 0, unknownTypes: [] });
    expect(h.flows.nodes).toBeGreaterThan(0);
    expect(h.gateway).toBe('pole-0001');
    expect(h.versions).toMatchObject({ wayside: '0.1.0-test.1', node: '24.21.0' });
  } finally {
    expect(await agent.stop()).toBe(0);
  }
}, 90_000);
