// The production build (dist/, what packaging ships) runs the same product as the sources: built
// here, then started as a real process with a camera, a detection model and the models service,
// the modules that load lazily (the camera pipeline, ONNX Runtime in its worker, the evidence
// store) included. A module that loads from the sources but not from dist/ fails here.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../models/registry.ts';
import { freePort } from './helpers/mosquitto.ts';
import { sleep } from './helpers/wait.ts';
import { buildMomentsDetector } from './support/models/moments-model.ts';
import { makeClip } from './support/video/clips.ts';

const root = path.resolve(import.meta.dirname, '..');
const node = path.join(root, 'node_modules/.bin/node');
const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('production build', () => {
  it('builds, and dist/main.js runs a camera with its model', async () => {
    await promisify(execFile)('bash', [path.join(root, 'scripts/build.sh')], { cwd: root, timeout: 180_000 });
    const clip = await makeClip({ width: 320, height: 180, fps: 10, seconds: 4, background: '0x727272', shapes: [{ w: 20, h: 40, color: 'red', x: '10+70*t', y: 100 }] }, dir, 'street');
    await createRegistry({ dir: path.join(dir, 'state/models'), builtins: false }).install(
      { name: 'walker', task: 'detect', input: { width: 160, height: 160 }, layout: 'yolov8', classes: ['person'] },
      buildMomentsDetector({ size: 160, classes: ['person'], layout: 'yolov8', names: true }),
    );
    const port = await freePort();
    writeFileSync(path.join(dir, 'wayside.yaml'), `version: 1
gateway: { id: pole-dist, stateDir: ./state }
http: { host: 127.0.0.1, port: ${port} }
uplink: { enabled: false }
devices:
  - id: cam
    driver: camera
    source: file:${path.basename(clip.file)}
    loop: true
    fps: 10
    model: walker
    lines: [{ name: mid, from: [0.5, 0], to: [0.5, 1] }]
    evidence: { enabled: true }
`);
    const proc = spawn(node, [path.join(root, 'dist/main.js'), 'run', '--config', path.join(dir, 'wayside.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    try {
      const health = async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
        models: { models: { name: string; runs: number }[] };
        devices: { device: string; camera?: { processed: number; pipeline: { ready: boolean; problem?: string } } }[];
      };
      let h: Awaited<ReturnType<typeof health>> | undefined;
      const end = Date.now() + 40_000;
      for (;;) {
        try {
          const x = await health();
          const cam = x.devices.find((d) => d.device === 'cam')?.camera;
          if (cam?.pipeline.ready && cam.processed > 10 && (x.models.models.find((m) => m.name === 'walker')?.runs ?? 0) > 3) {
            h = x;
            break;
          }
        } catch {
          // not up yet
        }
        if (Date.now() > end) throw new Error(`the camera did not analyse frames with its model from dist/ within 40 s; stderr: ${stderr.slice(-1500)}`);
        await sleep(250);
      }
      expect(h.devices.find((d) => d.device === 'cam')?.camera?.pipeline.problem).toBeUndefined();
      expect(stderr).not.toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND/);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    }
  }, 240_000);
});
