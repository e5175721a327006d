// The registry on a real directory: install / list / get / verify / remove round trip, a
// re-install replacing the file, manifest errors naming the file and field, refusals (bad name,
// built-in name, a model that fails the install check), and the PaddleOCR built-ins.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildGridDetector } from '../test/support/models/build-model.ts';
import { createRegistry, type InstallFields } from './registry.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-registry-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const model = (classes = ['person']) => buildGridDetector({ size: 64, grid: 4, classes, layout: 'yolov8' });
const fields = (name: string): InstallFields => ({ name, task: 'detect', input: { width: 64, height: 64 }, classes: ['person'], version: '1' });

describe('registry', () => {
  it('installs, lists, verifies, replaces and removes', async () => {
    const reg = createRegistry({ dir: path.join(dir, 'models'), builtins: false });
    expect(reg.list()).toEqual([]);
    const a = await reg.install(fields('grid'), model());
    expect(a).toMatchObject({ name: 'grid', task: 'detect', origin: 'installed', bytes: model().length, classes: ['person'] });
    expect(a.path).toBe(path.join(dir, 'models', 'grid', `grid-${a.sha256.slice(0, 12)}.onnx`));
    const manifest = JSON.parse(readFileSync(path.join(dir, 'models', 'grid', 'manifest.json'), 'utf8'));
    expect(manifest).toEqual({ name: 'grid', task: 'detect', input: { width: 64, height: 64 }, classes: ['person'], version: '1', file: path.basename(a.path), sha256: a.sha256 });
    expect(await reg.verify('grid')).toEqual({ ok: true, expected: a.sha256, actual: a.sha256 });

    // A fresh registry over the same folder reads it back.
    const again = createRegistry({ dir: path.join(dir, 'models'), builtins: false });
    expect(again.list().map((m) => m.name)).toEqual(['grid']);

    // Re-install with other bytes: the new file replaces the old one; no temp files left.
    const b = await reg.install({ ...fields('grid'), classes: ['person', 'car'] }, model(['person', 'car']));
    expect(b.sha256).not.toBe(a.sha256);
    expect(readdirSync(path.join(dir, 'models', 'grid')).sort()).toEqual([path.basename(b.path), 'manifest.json'].sort());
    expect(reg.get('grid')!.classes).toEqual(['person', 'car']);

    expect(await reg.remove('grid')).toBe(true);
    expect(await reg.remove('grid')).toBe(false);
    expect(reg.list()).toEqual([]);
    expect(readdirSync(path.join(dir, 'models'))).toEqual([]);
  });

  it('names the file and field of a bad manifest and skips only that model', async () => {
    const root = path.join(dir, 'models');
    const reg = createRegistry({ dir: root, builtins: false });
    await reg.install(fields('good'), model());
    const put = (name: string, m: unknown) => {
      mkdirSync(path.join(root, name), { recursive: true });
      writeFileSync(path.join(root, name, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m));
    };
    const base = { task: 'detect', input: { width: 64, height: 64 }, file: 'm.onnx', sha256: 'a'.repeat(64) };
    put('nojson', '{ "name": ');
    put('badw', { name: 'badw', ...base, input: { width: 0, height: 64 } });
    put('badsha', { name: 'badsha', ...base, sha256: 'xyz' });
    put('nofile', { name: 'nofile', ...base });
    put('other', { name: 'elsewhere', ...base });
    put('badlayout', { name: 'badlayout', ...base, layout: 'yolov9' });
    const m = (n: string) => path.join(root, n, 'manifest.json');
    expect(reg.problems()).toEqual([
      `${m('badlayout')}: layout: expected yolov5 or yolov8, got "yolov9"`,
      `${m('badsha')}: sha256: expected 64 hex digits, got "xyz"`,
      `${m('badw')}: input.width: expected an integer 1-8192, got 0`,
      `${m('nofile')}: file: ${path.join(root, 'nofile', 'm.onnx')} does not exist`,
      expect.stringMatching(new RegExp(`^${m('nojson').replace(/[.]/g, '\\.')}: not valid JSON: `)),
      `${m('other')}: name: "elsewhere" differs from its folder "other"`,
    ]);
    expect(reg.list().map((x) => x.name)).toEqual(['good']);
  });

  it('refuses bad names, built-in names and models that fail the install check, writing nothing', async () => {
    const root = path.join(dir, 'models');
    const reg = createRegistry({ dir: root, validate: async (f) => { if (f.name === 'fails') throw new Error('model "fails": input [1,64,64,3] is not [1,3,H,W] (NCHW RGB)'); } });
    await expect(reg.install({ ...fields('x'), name: 'Bad Name' }, model())).rejects.toThrow('install: name: expected 1-64 lowercase letters, digits, ".", "_" or "-", got "Bad Name"');
    await expect(reg.install(fields('ppocr-det'), model())).rejects.toThrow('model "ppocr-det" is a built-in; choose another name');
    await expect(reg.install(fields('fails'), model())).rejects.toThrow('is not [1,3,H,W]');
    await expect(reg.remove('ppocr-rec')).rejects.toThrow('built-in');
    expect(existsSync(path.join(root, 'fails'))).toBe(false);
  });

  it('lists the PaddleOCR built-ins with their dictionary and a sha256 of the shipped file', async () => {
    const reg = createRegistry({ dir: path.join(dir, 'models') });
    const det = reg.get('ppocr-det')!;
    const rec = reg.get('ppocr-rec')!;
    expect(det).toMatchObject({ task: 'ocr-det', origin: 'builtin' });
    expect(rec).toMatchObject({ task: 'ocr-rec', origin: 'builtin' });
    expect(det.path).toMatch(/@gutenye\/ocr-models\/assets\/ch_PP-OCRv4_det_infer\.onnx$/);
    expect(readFileSync(rec.dict!, 'utf8').split('\n').length).toBeGreaterThan(6000);
    expect(await reg.verify('ppocr-det')).toMatchObject({ ok: true, expected: det.sha256 });
  });
});
