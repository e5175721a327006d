// `wayside models add` reads layout, input and names from a real model file and installs it;
// `wayside models list` shows it (table and JSON) and flags a file whose sha256 changed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBadModel, buildGridDetector } from '../test/support/models/build-model.ts';
import { modelsCli } from './cli.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-models-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await modelsCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, stateDir: dir });
  return { code, out, err };
}

describe('wayside models', () => {
  it('adds a model, reading its layout, input and names from the file, and lists it', async () => {
    const file = path.join(dir, 'yolo.onnx');
    writeFileSync(file, buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov5', names: true }));
    const added = await run('add', file, '--name', 'tiny');
    expect(added).toMatchObject({ code: 0, err: '' });
    expect(added.out).toMatch(/^installed tiny: yolov5 64x64, 2 classes \(person, car\), .* sha256 [0-9a-f]{12} -> .*models\/tiny\n$/);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'models', 'tiny', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: 'tiny', task: 'detect', input: { width: 64, height: 64 }, layout: 'yolov5', classes: ['person', 'car'] });

    const table = await run('list');
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+TASK\s+ORIGIN\s+INPUT\s+CLASSES\s+SIZE\s+SHA256\s+VERIFIED$/);
    expect(lines.find((l) => l.startsWith('tiny'))).toMatch(/^tiny\s+detect\s+installed\s+64x64\s+2\s+\S+ \S+\s+[0-9a-f]{12}\s+ok$/);
    expect(lines.some((l) => /^ppocr-rec\s+ocr-rec\s+builtin\s+320x48\s+-\s+10 MiB/.test(l))).toBe(true);

    // The file changes on disk: list says so and exits 1.
    const onnx = path.join(dir, 'models', 'tiny', manifest.file);
    const bytes = readFileSync(onnx);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(onnx, bytes);
    const json = await run('list', '--json');
    expect(json.code).toBe(1);
    const tiny = JSON.parse(json.out).models.find((m: { name: string }) => m.name === 'tiny');
    expect(tiny).toMatchObject({ name: 'tiny', layout: 'yolov5', classes: 2, verified: false });
  });

  it('takes --classes and --layout, and refuses what does not fit with the shapes named', async () => {
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, buildGridDetector({ size: 64, grid: 4, classes: ['a', 'b'], layout: 'yolov8' }));
    expect((await run('add', file, '--name', 'ok', '--classes', 'bike,bus', '--layout', 'yolov8')).code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(dir, 'models', 'ok', 'manifest.json'), 'utf8')).classes).toEqual(['bike', 'bus']);
    const wrong = await run('add', file, '--name', 'bad', '--classes', 'a,b,c');
    expect(wrong).toMatchObject({ code: 1, err: 'wayside models: model "bad": output [1,6,16] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N] for 3 classes\n' });
    const v5 = await run('add', file, '--name', 'bad', '--layout', 'yolov5');
    expect(v5.err).toBe('wayside models: model "bad": output [1,6,16] does not fit yolov5 [1,N,5+C]\n');
    writeFileSync(file, buildBadModel('wrong-input'));
    expect((await run('add', file, '--name', 'bad')).err).toBe('wayside models: model "bad": input [1,64,64,3] is not [1,3,H,W] (NCHW RGB)\n');
    writeFileSync(file, 'garbage');
    expect((await run('add', file, '--name', 'bad')).err).toMatch(/^wayside models: model "bad": not a valid ONNX file/);
    expect((await run('add', file)).code).toBe(2);
    expect((await run('add', file, '--name', 'Bad')).err).toMatch(/--name: expected 1-64 lowercase/);
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('add', path.join(dir, 'none.onnx'), '--name', 'x')).err).toMatch(/none\.onnx: cannot read: ENOENT/);
  });
});
