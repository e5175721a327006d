// Video analytics end to end, all real parts: a clip made by ffmpeg (a red "person" walking
// left to right across a grey street), decoded by the camera driver's ffmpeg, analysed by the
// models service with a detector built by the test and run by onnxruntime, results on the
// agent's bus, through the outbox and a real mosquitto to the platform. The platform receives
// events and readings, never video; the evidence image is written redacted on the box.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productRegistry } from '../main.ts';
import { createRegistry } from '../models/registry.ts';
import type { Agent } from '../runtime/agent.ts';
import { startAgent } from '../runtime/agent.ts';
import { readConfig } from '../runtime/config/index.ts';
import { silentLog } from '../runtime/log.ts';
import type { OutRecord, Reading, WaysideEvent } from '../runtime/types.ts';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { buildMomentsDetector } from './support/models/moments-model.ts';
import { makeClip } from './support/video/clips.ts';

let dir: string;
let broker: Mosquitto;
let platform: Collector;
let agent: Agent;

const records = (kind: string): OutRecord[] =>
  platform.messages.filter((m) => m.topic.endsWith(`/up/${kind}`)).flatMap((m) => m.payload.records as OutRecord[]);
const events = (type: string) => records('event').map((r) => r.body as WaysideEvent).filter((e) => e.type === type);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-video-'));
  // 6 s at 10 fps: the walker (40×80 px) goes from x = 20 to x = 590 on a 640×360 street.
  const clip = await makeClip({ width: 640, height: 360, fps: 10, seconds: 6, background: '0x727272', shapes: [{ w: 40, h: 80, color: 'red', x: '20+95*t', y: 200 }] }, dir, 'street');
  await createRegistry({ dir: path.join(dir, 'state/models'), builtins: false }).install(
    { name: 'walker', task: 'detect', input: { width: 320, height: 320 }, layout: 'yolov5', classes: ['person', 'car'] },
    buildMomentsDetector({ size: 320, classes: ['person', 'car'], layout: 'yolov5', names: true }),
  );
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, 'wayside/v1/pole-video/#');
  const file = path.join(dir, 'wayside.yaml');
  writeFileSync(file, `version: 1
gateway: { id: pole-video, stateDir: ./state }
http: { enabled: false }
uplink: { url: "${broker.url}" }
defaults: { publish: both, window: 2s }
devices:
  - id: cam-1
    driver: camera
    source: file:${path.basename(clip.file)}
    fps: 10
    model: walker
    zones: [{ name: crossing, polygon: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], classes: [person] }]
    lines: [{ name: mid, from: [0.5, 0], to: [0.5, 1], directions: [westbound, eastbound] }]
    structuring: true
    trackTimeout: 1s
    evidence: { enabled: true }
`);
  const { registry, services } = productRegistry();
  const { config } = readConfig(file, registry);
  agent = await startAgent({ config, services: services(config), log: silentLog() });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await platform?.close();
  await broker?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('a camera on the pole, end to end', () => {
  it('the platform gets the walker entering the crossing, crossing the line eastbound, and its structured track', async () => {
    await platform.waitUntil(() => events('video.track').length > 0 && events('video.line_cross').length > 0, 40_000);
    const enter = events('video.zone_enter')[0];
    expect(enter).toMatchObject({ device: 'cam-1', data: { zone: 'crossing', label: 'person' } });
    const cross = events('video.line_cross')[0];
    expect(cross).toMatchObject({ device: 'cam-1', data: { line: 'mid', direction: 'eastbound', label: 'person' } });
    // The crossing happens where the walker's centre meets x = 0.5 (the line), on its path at y ≈ 240/360.
    expect((cross.data.point as { x: number; y: number }).x).toBeCloseTo(0.5, 2);
    expect((cross.data.point as { y: number }).y).toBeGreaterThan(0.55);
    const track = events('video.track')[0];
    expect(track.data).toMatchObject({ label: 'person', track: cross.data.track, colour: 'red' });
    // One walker, one track id through the whole walk (the same id entered the zone and crossed).
    expect(enter.data.track).toBe(cross.data.track);
  }, 60_000);

  it('counts reach the platform as readings of the camera device, and no frame ever leaves', async () => {
    await platform.waitUntil(() => records('reading').some((r) => (r.body as Reading).point === 'line.mid.eastbound'), 20_000);
    const crossings = records('reading').map((r) => r.body as Reading).filter((r) => r.device === 'cam-1' && r.point === 'line.mid.eastbound');
    expect(Math.max(...crossings.map((r) => Number(r.value)))).toBeGreaterThanOrEqual(1);
    const occupancy = records('reading').map((r) => r.body as Reading).filter((r) => r.point === 'zone.crossing.person');
    expect(occupancy.some((r) => r.value === 1)).toBe(true);
    // Nothing image-sized went up: the largest message is a batch of small records.
    const biggest = Math.max(...platform.messages.map((m) => JSON.stringify(m.payload ?? '').length));
    expect(biggest).toBeLessThan(32 * 1024);
    expect(JSON.stringify(platform.messages.map((m) => m.payload))).not.toMatch(/\/9j\/|iVBORw0/); // no base64 JPEG/PNG
  }, 30_000);

  it('an evidence image is kept on the box for the zone event, referenced by id', async () => {
    const id = events('video.zone_enter').map((e) => e.data.evidence).find((x) => typeof x === 'string') as string | undefined;
    expect(id).toBeDefined();
    const evidenceDir = path.join(dir, 'state/evidence');
    expect(existsSync(evidenceDir)).toBe(true);
    expect(readdirSync(evidenceDir, { recursive: true, encoding: 'utf8' }).some((f) => f.includes(id!))).toBe(true);
  });

  it('the models service reports the detector it ran, and the camera how many frames it analysed', () => {
    const h = agent.health() as unknown as { models: { models: { name: string; runs: number; latencyP50Ms?: number }[] }; devices: { device: string; camera?: { processed: number } }[] };
    const walker = h.models.models.find((m) => m.name === 'walker');
    expect(walker?.runs).toBeGreaterThan(5);
    expect(h.devices.find((d) => d.device === 'cam-1')?.camera?.processed).toBeGreaterThan(20);
  });
});
