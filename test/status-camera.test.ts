// The camera view of the status page, at the HTTP level, all real parts: a clip made by ffmpeg
// (a red "person" walking across a grey street), decoded by the camera driver, analysed by the
// models service with a detector built by the test and run by onnxruntime. The page's JSON
// gives the last analysed frame's detections in frame pixels and its time; the JPEG of that
// same frame (asked by its time) shows the red walker inside the box.
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '../models/registry.ts';
import { buildMomentsDetector } from './support/models/moments-model.ts';
import { launchBrowser, screenshot, watchPage } from './support/browser/index.ts';
import { apiLogin, PASSWORD, startStatusAgent, USER, type StatusAgent } from './support/status/agent.ts';
import { makeClip } from './support/video/clips.ts';

interface Shot { frame: boolean; ts: number; width: number; height: number; detections: { label: string; score: number; box: [number, number, number, number] }[] }

let s: StatusAgent;
let cookie: string;
beforeAll(async () => {
  s = await startStatusAgent({
    prepare: async (dir) => {
      await makeClip({ width: 640, height: 360, fps: 10, seconds: 6, background: '0x727272', shapes: [{ w: 40, h: 80, color: 'red', x: '20+95*t', y: 200 }] }, dir, 'street');
      await createRegistry({ dir: path.join(dir, 'state/models'), builtins: false }).install(
        { name: 'walker', task: 'detect', input: { width: 320, height: 320 }, layout: 'yolov5', classes: ['person', 'car'] },
        buildMomentsDetector({ size: 320, classes: ['person', 'car'], layout: 'yolov5', names: true }),
      );
    },
    devices: `  - { id: cam-1, driver: camera, source: "file:street.mp4", loop: true, fps: 10, model: walker }
  - { id: sim-1, driver: sim, interval: 1s, points: [pm25] }`,
  });
  cookie = (await apiLogin(s.base)).cookie;
}, 60_000);
afterAll(() => s?.close());

const get = (p: string, auth = true) => fetch(`${s.base}/status${p}`, { headers: auth ? { cookie } : {} });

describe('status page camera view', () => {
  it('gives the last analysed frame as a JPEG with the detections in frame pixels', async () => {
    // Wait for a frame with the walker fully in view.
    let shot: Shot | undefined;
    for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 300))) {
      const j = (await (await get('/camera/cam-1.json')).json()) as Shot;
      if (j.frame && j.detections.some((d) => d.label === 'person' && d.box[0] > 10 && d.box[0] + d.box[2] < j.width - 10)) {
        shot = j;
        break;
      }
    }
    expect(shot, 'a frame with the walker detected').toBeDefined();
    const { width, height, detections, ts } = shot!;
    // The analysis size: the 640×360 clip fitted into the model's 320×320 input.
    expect([width, height]).toEqual([320, 180]);
    const k = width / 640;
    const person = detections.find((d) => d.label === 'person')!;
    expect(person.score).toBeGreaterThan(0.3);
    const [x, y, w, h] = person.box;
    // The walker is 40×80 px of the clip with its top at y = 200.
    expect(w).toBeGreaterThan(20 * k);
    expect(w).toBeLessThan(80 * k);
    expect(h).toBeGreaterThan(50 * k);
    expect(h).toBeLessThan(120 * k);
    expect(Math.abs(y + h / 2 - 240 * k)).toBeLessThan(25 * k);

    const res = await get(`/camera/cam-1.jpg?ts=${ts}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('x-frame-ts')).toBe(String(ts)); // the very frame the boxes belong to
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect(await sharp(jpeg).metadata()).toMatchObject({ format: 'jpeg', width, height });
    // Red inside the box, street grey outside it.
    const { data } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    const px = (u: number, v: number) => [...data.subarray((Math.round(v) * width + Math.round(u)) * 3, (Math.round(v) * width + Math.round(u)) * 3 + 3)];
    const [r, g, b] = px(x + w / 2, y + h / 2);
    expect(r).toBeGreaterThan(150);
    expect(g).toBeLessThan(90);
    expect(b).toBeLessThan(90);
    const [r2, g2] = px(x + w / 2, Math.max(3, y - 20));
    expect(Math.abs(r2 - g2)).toBeLessThan(30);
    console.log(`camera view: ${jpeg.length} bytes JPEG ${width}x${height}, ${detections.length} detection(s)`);
  }, 60_000);

  it('needs the login; a device without frames answers frame: false', async () => {
    expect((await get('/camera/cam-1.json', false)).status).toBe(401);
    expect((await get('/camera/cam-1.jpg', false)).status).toBe(401);
    expect(await (await get('/camera/sim-1.json')).json()).toEqual({ device: 'sim-1', frame: false });
    expect((await get('/camera/sim-1.jpg')).status).toBe(404);
    // The devices list marks the camera, so the page shows its view.
    const state = (await (await get('/api/state')).json()) as { head: { devices: { id: string; camera: boolean }[] } };
    expect(state.head.devices.map((d) => [d.id, d.camera])).toEqual([['cam-1', true], ['sim-1', false]]);
  });

  it('the page draws the boxes over the frame', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      const problems = watchPage(page);
      await page.goto(`${s.base}/status/login`);
      await page.fill('input[name=username]', USER);
      await page.fill('input[name=password]', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/status\/$/);
      const cam = page.locator('article[data-device="cam-1"] .cam');
      await cam.locator('.box i', { hasText: /^person \d+%$/ }).first().waitFor({ timeout: 30_000 });
      const [img, box] = await Promise.all([cam.locator('img').boundingBox(), cam.locator('.box').first().boundingBox()]);
      // The box lies within the picture, a walker-sized part of it.
      expect(box!.x).toBeGreaterThanOrEqual(img!.x);
      expect(box!.x + box!.width).toBeLessThanOrEqual(img!.x + img!.width + 1);
      expect(box!.height / img!.height).toBeGreaterThan(0.1);
      expect(box!.height / img!.height).toBeLessThan(0.5);
      expect(await page.locator('article[data-device="cam-1"] button.read').count()).toBe(0);
      await screenshot(page, 'status-camera');
      expect(problems.consoleErrors).toEqual([]);
      expect(problems.pageErrors).toEqual([]);
      expect(problems.badResponses).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
