// The models service in the real agent (startAgent, HTTP on 127.0.0.1): a grid model installed
// in <stateDir>/models, inferImage on a PNG made with sharp, the health section and its
// problems, /metrics text, the models.list command, and the built-in PaddleOCR models listed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../runtime/agent.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import { buildGridDetector } from '../test/support/models/build-model.ts';
import { modelsSection } from './schema.ts';
import { createModelsService, type ModelsHealth, type ModelsService } from './service.ts';

let agent: Agent | undefined;
let dir: string | undefined;
afterEach(async () => {
  await agent?.stop('test end');
  agent = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(models: Record<string, unknown> = {}): Promise<{ agent: Agent; svc: ModelsService; dir: string }> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-models-'));
  const registry = createDriverRegistry([], { sections: { models: modelsSection } });
  const config = parseConfig(
    `version: 1\ngateway: { id: pole-m, stateDir: ${dir} }\nhttp: { host: 127.0.0.1, port: 0 }\nclock: { trust: always }\nuplink: { enabled: false }\n`,
    path.join(dir, 'wayside.yaml'),
    registry,
  );
  // The parsed section as the config loader hands it on (see the report: resolveConfig keeps product sections).
  const withModels = { ...config, models: modelsSection.parse(models) };
  agent = await startAgent({ config: withModels, services: [createModelsService()], log: silentLog() });
  return { agent, svc: agent.service<ModelsService>('models')!, dir };
}

/** A PNG: black, with a red w x h rectangle at (x, y). */
function png(width: number, height: number, r: { x: number; y: number; w: number; h: number }): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = r.y; y < r.y + r.h; y++) for (let x = r.x; x < r.x + r.w; x++) raw[(y * width + x) * 3] = 255;
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

const detectFields = { task: 'detect' as const, input: { width: 64, height: 64 } };

describe('models service', () => {
  it('runs inferImage on a PNG and reports health, metrics and models.list', async () => {
    const { agent, svc } = await start({ threads: 2 });
    await svc.install({ name: 'grid', ...detectFields }, buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }));

    // 128x96 -> 64x48 in the input, 8 rows of pad; input cell (1,1) (x 16..32, y 16..32) is frame x 32..64, y 16..48.
    const dets = await svc.inferImage(await png(128, 96, { x: 32, y: 16, w: 32, h: 32 }), 'grid');
    expect(dets).toHaveLength(1);
    expect(dets[0]).toMatchObject({ label: 'person', classId: 0 });
    expect(dets[0].score).toBeCloseTo(1, 4);
    expect([dets[0].box.x, dets[0].box.y, dets[0].box.w, dets[0].box.h].map((v) => +v.toFixed(6))).toEqual([0.25, +(16 / 96).toFixed(6), 0.25, +(32 / 96).toFixed(6)]);
    // Thresholds pass through.
    expect(await svc.inferImage(await png(64, 64, { x: 0, y: 0, w: 16, h: 16 }), 'grid', { thresholds: { person: 1.01 } })).toEqual([]);

    const h = agent.health() as unknown as { models: ModelsHealth; problems: string[]; status: string };
    expect(h.models.threads).toBe(2);
    expect(h.models.models.map((m) => [m.name, m.origin])).toEqual([['grid', 'installed'], ['ppocr-det', 'builtin'], ['ppocr-rec', 'builtin']]);
    expect(h.models.models[0]).toMatchObject({ name: 'grid', task: 'detect', loaded: true, runs: 2, errors: 0 });
    expect(h.models.models[0].latencyP50Ms).toBeGreaterThan(0);
    expect(h.problems).toEqual([]);

    const { host, port } = agent.http!.address();
    const metrics = await (await fetch(`http://${host}:${port}/metrics`)).text();
    expect(metrics).toMatch(/wayside_model_runs_total\{model="grid"\} 2/);
    expect(metrics).toMatch(/wayside_model_errors_total\{model="grid"\} 0/);
    expect(metrics).toMatch(/wayside_model_inference_seconds\{model="grid",quantile="0.95"\} \d/);
    expect(metrics).toMatch(/wayside_model_fps\{model="grid"\} 0\.2/);

    const list = (await svc.commands!()['models.list']({}, { name: 'models.list' })) as { models: { name: string; loaded: boolean; sha256: string }[] };
    expect(list.models.map((m) => [m.name, m.loaded])).toEqual([['grid', true], ['ppocr-det', false], ['ppocr-rec', false]]);
    expect(list.models[1].sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives clear errors for a bad image or an unknown model, and reports models that fail to load as problems', async () => {
    const { agent, svc, dir } = await start();
    await expect(svc.inferImage(Buffer.from('not an image at all'), 'grid')).rejects.toThrow('model "grid" is not installed (models: ppocr-det, ppocr-rec)');
    await svc.install({ name: 'grid', ...detectFields }, buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }));
    await expect(svc.inferImage(Buffer.from('not an image at all'), 'grid')).rejects.toThrow(/^image \(19 bytes\): not a readable JPEG or PNG: /);

    // A model copied in by hand, truncated; and a manifest with a bad field.
    const bytes = buildGridDetector({ size: 64, grid: 4, classes: ['person'], layout: 'yolov8' }).subarray(0, 100);
    const hash = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    mkdirSync(path.join(dir, 'models', 'cut'));
    writeFileSync(path.join(dir, 'models', 'cut', 'm.onnx'), bytes);
    writeFileSync(path.join(dir, 'models', 'cut', 'manifest.json'), JSON.stringify({ name: 'cut', ...detectFields, file: 'm.onnx', sha256: hash }));
    mkdirSync(path.join(dir, 'models', 'odd'));
    writeFileSync(path.join(dir, 'models', 'odd', 'manifest.json'), JSON.stringify({ name: 'odd', task: 'segment', input: { width: 64, height: 64 }, file: 'x.onnx', sha256: hash }));
    await expect(svc.inferImage(await png(64, 64, { x: 0, y: 0, w: 16, h: 16 }), 'cut')).rejects.toThrow(/model "cut" \(.*m\.onnx\): not a valid ONNX file/);
    const h = agent.health() as unknown as { problems: string[]; status: string };
    expect(h.status).toBe('degraded');
    expect(h.problems).toEqual([
      `${path.join(dir, 'models', 'odd', 'manifest.json')}: task: expected one of detect, ocr-det, ocr-rec, got "segment"`,
      expect.stringMatching(/^model "cut" failed to load: model "cut" \(.*\): not a valid ONNX file/),
    ]);
    // The good one still answers.
    expect(await svc.inferImage(await png(64, 64, { x: 0, y: 0, w: 16, h: 16 }), 'grid')).toHaveLength(1);
  });
});
