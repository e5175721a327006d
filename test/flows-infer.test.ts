// `wayside infer` in the real embedded Node-RED of a real agent with the models service: a PNG
// made with sharp (a red square) injected into a flow comes out as a detection with the right
// box; the shipped example (flows/examples/object-detection.json) answers HTTP requests with
// detections and a clear 422 for a bad image; without the models service the node says so.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createFlowsService } from '../flows/service.ts';
import { modelsSection } from '../models/schema.ts';
import { createModelsService } from '../models/service.ts';
import { createRegistry } from '../models/registry.ts';
import { startAgent, type Agent } from '../runtime/agent.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { createDriverRegistry } from '../runtime/drivers.ts';
import { silentLog } from '../runtime/log.ts';
import type { WaysideEvent } from '../runtime/types.ts';
import { buildGridDetector } from './support/models/build-model.ts';
import { placeFlows, waitFor } from './support/flows/testing.ts';

let agent: Agent | undefined;
let dir: string | undefined;
afterEach(async () => {
  await agent?.stop('test end');
  agent = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An agent with flows (HTTP on 127.0.0.1) and, unless told otherwise, the models service with `yolo` installed. */
async function start(flows: unknown[], opts: { models?: boolean } = {}): Promise<Agent> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-flows-infer-'));
  await createRegistry({ dir: path.join(dir, 'models'), builtins: false }).install(
    { name: 'yolo', task: 'detect', input: { width: 64, height: 64 } },
    buildGridDetector({ size: 64, grid: 4, classes: ['person', 'car'], layout: 'yolov8', names: true }),
  );
  placeFlows(dir, flows);
  const config = parseConfig(
    `version: 1\ngateway: { id: pole-infer, stateDir: ${dir} }\nhttp: { host: 127.0.0.1, port: 0 }\nclock: { trust: always }\nuplink: { enabled: false }\nflows: { enabled: true }\n`,
    path.join(dir, 'wayside.yaml'),
    createDriverRegistry([]),
  );
  const models = createModelsService();
  const write = async () => {
    throw new Error('no devices in this test');
  };
  const services = opts.models === false
    ? [createFlowsService({ write })]
    : [models, createFlowsService({ write, infer: (image, model, o) => models.inferImage(image, model, o) })];
  agent = await startAgent({ config: { ...config, models: modelsSection.parse({}) } as typeof config, services, log: silentLog() });
  return agent;
}

/** 128x96 PNG, black with a red 32x32 square at (32, 16): input cell (1,1) of the 64x64 model after the letterbox. */
function redSquare(): Promise<Buffer> {
  const raw = Buffer.alloc(128 * 96 * 3);
  for (let y = 16; y < 48; y++) for (let x = 32; x < 64; x++) raw[(y * 128 + x) * 3] = 255;
  return sharp(raw, { raw: { width: 128, height: 96, channels: 3 } }).png().toBuffer();
}

const url = (a: Agent, p: string) => `http://${a.http!.address().host}:${a.http!.address().port}${p}`;
const example = () => JSON.parse(readFileSync(path.join(import.meta.dirname, '../flows/examples/object-detection.json'), 'utf8')) as unknown[];
const box = (b: { x: number; y: number; w: number; h: number }) => [b.x, b.y, b.w, b.h].map((v) => +v.toFixed(6));
const EXPECTED_BOX = [0.25, +(16 / 96).toFixed(6), 0.25, +(32 / 96).toFixed(6)];

describe('wayside infer', () => {
  it('turns an injected PNG into detections with the right box', async () => {
    const png = await redSquare();
    const a = await start([
      { id: 't', type: 'tab', label: 'infer' },
      { id: 'inj', z: 't', type: 'inject', once: true, onceDelay: 0.1, repeat: '', topic: '', payload: JSON.stringify([...png]), payloadType: 'bin', wires: [['inf']] },
      { id: 'inf', z: 't', type: 'wayside infer', model: 'yolo', threshold: '0.5', wires: [['out']] },
      { id: 'out', z: 't', type: 'wayside out', kind: 'event', eventType: 'camera.detections', wires: [] },
    ]);
    const events: WaysideEvent[] = [];
    a.bus.on('event', 'test', (e) => e.type === 'camera.detections' && events.push(e));
    const [e] = await waitFor(() => events.length > 0 && events, 'the detections event', 20_000);
    const dets = e.data.value as { label: string; score: number; box: { x: number; y: number; w: number; h: number } }[];
    expect(dets).toHaveLength(1);
    expect(dets[0].label).toBe('person');
    expect(dets[0].score).toBeCloseTo(1, 4);
    expect(box(dets[0].box)).toEqual(EXPECTED_BOX);
    expect(a.health().flows).toMatchObject({ state: 'running', nodeErrors: 0, unknownTypes: [] });
  });

  it('serves the example flow: POST an image, get detections; a bad image gets 422 with the reason', async () => {
    const a = await start(example());
    const ok = await fetch(url(a, '/api/detect'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: await redSquare() });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { model: string; ms: number; detections: { label: string; box: { x: number; y: number; w: number; h: number } }[] };
    expect(body.model).toBe('yolo');
    expect(body.detections.map((d) => [d.label, box(d.box)])).toEqual([['person', EXPECTED_BOX]]);

    const bad = await fetch(url(a, '/api/detect'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from('definitely not a png') });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^Error: infer yolo: image \(20 bytes\): not a readable JPEG or PNG/);
    const models = a.health() as unknown as { models: { models: { name: string; runs: number }[] } };
    expect(models.models.models.find((m) => m.name === 'yolo')).toMatchObject({ runs: 1 });
  });

  it('says "models service not running" when the agent has none', async () => {
    const a = await start(example(), { models: false });
    const r = await fetch(url(a, '/api/detect'), { method: 'POST', headers: { 'content-type': 'image/png' }, body: await redSquare() });
    expect(r.status).toBe(422);
    expect(((await r.json()) as { error: string }).error).toMatch(/^Error: models service not running/);
  });
});
