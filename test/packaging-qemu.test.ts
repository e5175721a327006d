// The arm64 bundle run for real under user-mode emulation (qemu-aarch64-static with the arm64
// C library from Debian's libc6:arm64/libstdc++6:arm64): its own node reports arm64, `wayside
// version` answers, and the agent runs a simulated pole for 10 s with /healthz answering.
// The launcher's WAYSIDE_EMULATOR puts qemu in front of node (binfmt may not be registered in a
// container). Skipped, saying why, where qemu or the arm64 loader is missing. Slow: emulated.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { packageArch, sourceDateEpoch } from '../packaging/build.ts';
import { freePort, LOAD_NATIVES, pollHealth, start, testConfig, runAsBatchWork } from './support/packaging/index.ts';

runAsBatchWork();

const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64-static'], { encoding: 'utf8' }).stdout.trim();
const loader = '/lib/ld-linux-aarch64.so.1';
const missing = !qemu ? 'qemu-aarch64-static is not installed' : !existsSync(loader) ? `${loader} is missing (libc6:arm64)` : '';
if (missing) console.warn(`packaging-qemu: skipped: ${missing}`);

const tmp = mkdtempSync(path.join(tmpdir(), 'wayside-pkg-qemu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it.skipIf(missing !== '')('runs the arm64 bundle under qemu: version, and a 10 s sim pole with /healthz', async () => {
  const { bundle } = await packageArch({ arch: 'arm64', version: '0.1.0-arm.1', outDir: tmp, epoch: sourceDateEpoch(), deb: false, tarball: false });
  const env = { ...process.env, WAYSIDE_EMULATOR: `${qemu} -L /` };
  expect(execFileSync(qemu, ['-L', '/', path.join(bundle.dir, 'node/bin/node'), '-p', 'process.arch'], { encoding: 'utf8' }).trim()).toBe('arm64');
  // The aarch64 addons (onnxruntime, sharp/libvips, serialport) load in the emulated node.
  // onnxruntime's CPU probe reads /proc/cpuinfo, which qemu-user passes through from the x86
  // host (it then dereferences the ARM fields it lacks and crashes): in a private mount
  // namespace, /proc/cpuinfo is the stand-in an arm64 kernel would give (support/packaging/
  // cpuinfo-aarch64, a 2-core Cortex-A72). Without unshare, only that step is left out.
  const cpuinfo = path.join(import.meta.dirname, 'support/packaging/cpuinfo-aarch64');
  const node = path.join(bundle.dir, 'node/bin/node');
  const canUnshare = spawnSync('unshare', ['-m', 'true']).status === 0;
  if (canUnshare) {
    const load = execFileSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$1" /proc/cpuinfo && exec "$2" -L / "$3" -e "$4"', 'sh', cpuinfo, qemu, node, LOAD_NATIVES], { cwd: path.join(bundle.dir, 'lib'), encoding: 'utf8', timeout: 180_000 });
    expect(load.trim()).toBe('ok');
  } else console.warn('packaging-qemu: unshare -m is not allowed here: the native addons are not loaded under qemu');
  const bin = path.join(bundle.dir, 'bin/wayside');
  expect(execFileSync(bin, ['version'], { encoding: 'utf8', env, timeout: 90_000 })).toBe('wayside 0.1.0-arm.1 node 24.21.0\n');

  const port = await freePort();
  const cfg = testConfig(path.join(bundle.dir, 'share/wayside.yaml'), path.join(tmp, 'run.yaml'), { stateDir: path.join(tmp, 'state'), httpPort: port, uplinkPort: await freePort() });
  const agent = start(bin, ['run', '--config', cfg], { WAYSIDE_EMULATOR: env.WAYSIDE_EMULATOR });
  try {
    const first = await pollHealth(port, (h) => h.gateway === 'pole-0001', 120_000, agent.output);
    expect(first.versions).toMatchObject({ wayside: '0.1.0-arm.1', node: '24.21.0' });
    // Ten seconds of the sim pole: readings keep arriving in the outbox.
    const later = await pollHealth(port, (h) => h.uptimeS >= first.uptimeS + 10 && h.outbox?.depth > (first.outbox?.depth ?? 0), 60_000, agent.output);
    expect(later.outbox.depth).toBeGreaterThan(0);
  } finally {
    expect(await agent.stop()).toBe(0);
  }
}, 400_000);
