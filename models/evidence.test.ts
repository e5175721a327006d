// Evidence snapshots with real sharp and a real folder: people (and plates, faces) are redacted
// before the JPEG exists, the rest of the image is kept, writes are atomic and private, the
// folder is capped oldest first, ids cannot walk out of the folder.
import { existsSync, readdirSync, readFileSync, statSync, watch, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrng } from '../runtime/prng.ts';
import { renderText } from '../test/support/models/text-image.ts';
import { createEvidenceStore } from './evidence.ts';
import type { Box, Detection, EvidenceConfig, RgbFrame } from './types.ts';

const W = 320, H = 240;
const CFG: EvidenceConfig = { enabled: true, blur: ['person', 'plate', 'face'], mode: 'blur', maxBytes: 10_000_000, quality: 80 };
const PERSON: Box = { x: 0.25, y: 0.2, w: 0.3, h: 0.55 };
const CAR: Box = { x: 0.65, y: 0.55, w: 0.3, h: 0.35 };
const det = (label: string, box: Box): Detection => ({ label, classId: 0, score: 0.9, box });

/**
 * Detail everywhere (what a blur must destroy): 8×8 blocks of seeded grey noise. Grey, on the
 * JPEG block grid, so JPEG alone keeps it nearly intact and any large difference is redaction.
 */
function texturedFrame(seed = 7): RgbFrame {
  const rnd = createPrng(seed);
  const data = new Uint8Array(W * H * 3);
  for (let by = 0; by < H; by += 8) {
    for (let bx = 0; bx < W; bx += 8) {
      const v = Math.round(rnd() * 255);
      for (let y = by; y < by + 8; y++) data.fill(v, (y * W + bx) * 3, (y * W + bx + 8) * 3);
    }
  }
  return { width: W, height: H, data, ts: Date.now(), mono: performance.now(), seq: 1 };
}

async function decode(jpeg: Buffer): Promise<Uint8Array> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([W, H, 3]);
  return data;
}

/** Mean absolute difference per channel inside the box (grown by `grow` px), or outside it (grown by `grow`). */
function mad(a: Uint8Array, b: Uint8Array, box: Box, where: 'inside' | 'outside', grow = 0): number {
  const x0 = Math.floor(box.x * W) - grow, x1 = Math.ceil((box.x + box.w) * W) + grow;
  const y0 = Math.floor(box.y * H) - grow, y1 = Math.ceil((box.y + box.h) * H) + grow;
  let sum = 0, n = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside = x >= x0 && x < x1 && y >= y0 && y < y1;
      if (inside !== (where === 'inside')) continue;
      const i = (y * W + x) * 3;
      sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
      n += 3;
    }
  }
  return sum / n;
}

let root: string;
let n = 0;
const freshDir = () => join(root, `ev${n++}`);
const frame = texturedFrame();
/** What JPEG alone does to this frame at this quality: the tolerance outside the redacted boxes. */
let plain: Uint8Array;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'wayside-evidence-'));
  plain = await decode(await sharp(Buffer.from(frame.data), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: CFG.quality }).toBuffer());
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('createEvidenceStore', () => {
  it('blurs the person box before encoding and keeps the rest of the image', async () => {
    const store = createEvidenceStore(freshDir(), CFG);
    const id = await store.save(frame, [det('person', PERSON), det('car', CAR)], 'cam-1');
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}-cam-1$/);
    const got = await decode((await store.read(id!))!);
    // Inside the person: far from the original (JPEG alone stays well below).
    expect(mad(plain, frame.data, PERSON, 'inside')).toBeLessThan(10);
    expect(mad(got, frame.data, PERSON, 'inside')).toBeGreaterThan(20);
    // Outside (8 px off the box edge, where no JPEG block straddles it): as close as JPEG alone.
    expect(mad(got, frame.data, PERSON, 'outside', 8)).toBeLessThanOrEqual(mad(plain, frame.data, PERSON, 'outside', 8) + 1);
    // A car is not redacted.
    expect(mad(got, frame.data, CAR, 'inside')).toBeLessThanOrEqual(mad(plain, frame.data, CAR, 'inside') + 1);
    expect(store.stats()).toMatchObject({ files: 1, written: 1, evicted: 0, failed: 0 });
    expect(frame.data).toEqual(texturedFrame().data); // the caller's frame is untouched
  });

  it('blurs a plate so its text cannot be read back', async () => {
    const plateFrame = await renderText('沪A12345', { width: W, height: H, fontSize: 40, font: 'WenQuanYi Micro Hei' });
    const store = createEvidenceStore(freshDir(), CFG);
    const box: Box = { x: 0.1, y: 0.3, w: 0.8, h: 0.4 };
    const got = await decode((await store.read((await store.save(plateFrame, [det('plate', box)], 'cam'))!))!);
    // No dark stroke survives inside the box: the darkest redacted pixel is far lighter than ink.
    let darkest = 255;
    for (let y = Math.floor(box.y * H); y < Math.ceil((box.y + box.h) * H); y++) {
      for (let x = Math.floor(box.x * W); x < Math.ceil((box.x + box.w) * W); x++) darkest = Math.min(darkest, got[(y * W + x) * 3]);
    }
    expect(darkest).toBeGreaterThan(100);
  });

  it('fills the box in box mode', async () => {
    const store = createEvidenceStore(freshDir(), { ...CFG, mode: 'box' });
    const got = await decode((await store.read((await store.save(frame, [det('face', PERSON)], 'cam'))!))!);
    expect(mad(got, new Uint8Array(W * H * 3), { x: PERSON.x + 0.03, y: PERSON.y + 0.03, w: PERSON.w - 0.06, h: PERSON.h - 0.06 }, 'inside')).toBeLessThan(3);
    expect(mad(got, frame.data, PERSON, 'outside', 8)).toBeLessThanOrEqual(mad(plain, frame.data, PERSON, 'outside', 8) + 1);
  });

  it('writes nothing when disabled', async () => {
    const dir = freshDir();
    const store = createEvidenceStore(dir, { ...CFG, enabled: false });
    expect(await store.save(frame, [det('person', PERSON)], 'cam')).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
    expect(store.stats()).toMatchObject({ files: 0, written: 0 });
  });

  it('never lets an unredacted file into the folder, and keeps files private', async () => {
    const dir = freshDir();
    await mkdir(dir, { recursive: true });
    // Every version of every file that appears while saving is copied out as soon as it shows.
    const seen = new Map<string, Buffer[]>();
    const grab = () => {
      for (const name of readdirSync(dir)) {
        try {
          const list = seen.get(name) ?? [];
          list.push(readFileSync(join(dir, name)));
          seen.set(name, list);
        } catch { /* renamed or deleted meanwhile */ }
      }
    };
    const watcher = watch(dir, grab);
    const store = createEvidenceStore(dir, CFG);
    const id = await store.save(frame, [det('person', PERSON)], 'cam');
    grab();
    watcher.close();
    const names = readdirSync(dir);
    expect(names).toEqual([`${id}.jpg`]); // no temp file left
    expect(statSync(join(dir, names[0])).mode & 0o777).toBe(0o600);
    let checked = 0;
    for (const [name, versions] of seen) {
      expect(name === `${id}.jpg` || name === `.${id}.jpg.tmp`).toBe(true);
      for (const bytes of versions) {
        if (bytes.length === 0) continue; // the temp file caught empty, before its one write
        const got = await decode(bytes).catch(() => undefined);
        if (!got) continue; // caught mid-write: not a decodable image
        expect(mad(got, frame.data, PERSON, 'inside')).toBeGreaterThan(20);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('caps the folder, evicting the oldest first, and picks up where it was after a restart', async () => {
    const dir = freshDir();
    const probe = createEvidenceStore(freshDir(), CFG);
    await probe.save(frame, [], 'cam');
    const size = probe.stats().bytes;
    const cfg = { ...CFG, maxBytes: Math.floor(size * 2.5) };
    const store = createEvidenceStore(dir, cfg);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await store.save({ ...frame, ts: frame.ts + i }, [], i % 2 ? 'a' : 'b'))!);
    expect([...ids].sort()).toEqual(ids); // ids sort in time order
    expect(statSync(dir).mode & 0o777).toBe(0o700); // the folder the store made is private
    const kept = readdirSync(dir).sort();
    expect(kept).toEqual(ids.slice(-2).map((id) => `${id}.jpg`));
    expect(store.stats()).toMatchObject({ files: 2, written: 5, evicted: 3 });
    expect(store.stats().bytes).toBeLessThanOrEqual(cfg.maxBytes);
    expect(await store.read(ids[0])).toBeUndefined();
    expect((await store.read(ids[4]))!.length).toBeGreaterThan(0);

    // A temp file left by a crash is removed; the files on disk count toward the cap.
    writeFileSync(join(dir, `.${ids[4].replace(/-b$/, '-x')}.jpg.tmp`), 'partial');
    const again = createEvidenceStore(dir, cfg);
    const next = (await again.save({ ...frame, ts: frame.ts + 10 }, [], 'a'))!;
    expect(readdirSync(dir).sort()).toEqual([`${ids[4]}.jpg`, `${next}.jpg`]);
    expect(again.stats()).toMatchObject({ files: 2, written: 1, evicted: 1 });
  });

  it('refuses ids that are not its own shape (no path traversal)', async () => {
    const dir = freshDir();
    const store = createEvidenceStore(dir, CFG);
    const id = (await store.save(frame, [], '../../etc/cam'))!;
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}-______etc_cam$/);
    expect(await readdir(dir)).toEqual([`${id}.jpg`]);
    await writeFile(join(root, 'secret.jpg'), 'x');
    for (const bad of ['../secret', `${id}/../../secret`, '../' + id, id + '.jpg', '', `${id.slice(0, 26)}-`, 'x'.repeat(30)]) {
      await expect(store.read(bad)).rejects.toThrow(/evidence: invalid id/);
    }
    expect(await store.read('01ARZ3NDEKTSV4RRFFQ69G5FAV-cam')).toBeUndefined();
  });

  it('gives undefined, not a crash, when the folder cannot be written', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    const warns: unknown[] = [];
    const log = { warn: (o: unknown) => warns.push(o) } as unknown as Parameters<typeof createEvidenceStore>[2];
    const store = createEvidenceStore(join(file, 'sub'), CFG, log);
    expect(await store.save(frame, [det('person', PERSON)], 'cam')).toBeUndefined();
    expect(store.stats()).toMatchObject({ written: 0, failed: 1 });
    expect(warns.length).toBeGreaterThan(0);
  });
});
