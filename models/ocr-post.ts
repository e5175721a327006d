// The pixel and tensor work of models/ocr.ts, on typed arrays only (it runs on the event loop:
// no per-pixel objects): sampling an RGB rectangle into a normalized CHW tensor, DB
// post-processing of the PaddleOCR detector's probability map, CTC greedy decoding of the
// recognizer's output, reading order, and the plate normalizer the pipeline's plate events use.

/** Per output channel: value = pixel * scale + bias (mean/std folded in). */
export interface ChannelNorm {
  scale: [number, number, number];
  bias: [number, number, number];
}

/** PaddleOCR's normalization `(v/255 - mean) / std` as scale/bias. */
export function channelNorm(mean: [number, number, number], std: [number, number, number]): ChannelNorm {
  return {
    scale: [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])],
    bias: [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]],
  };
}

/** A rectangle in source pixels (fractional allowed): left, top, width, height. */
export interface PxRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TensorTarget {
  data: Float32Array;
  /** Offset of this image in `data` (batch index × 3 × planeH × rowW). */
  offset: number;
  /** Row length and plane height of the tensor (the sampled image may fill only its top-left part). */
  rowW: number;
  planeH: number;
}

/**
 * Samples `rect` of a packed RGB image (w×h) into dw×dh pixels of a CHW float tensor, channels in
 * BGR order (PaddleOCR models are trained on OpenCV's BGR images), normalized by `norm` (given in
 * the tensor's channel order). Bilinear; when shrinking by 2× or more, each output pixel averages
 * floor(scale)² (at most 4×4) bilinear taps so thin strokes are not aliased away.
 */
export function sampleToChw(
  src: Uint8Array, srcW: number, srcH: number, rect: PxRect, dw: number, dh: number, out: TensorTarget, norm: ChannelNorm,
): void {
  const xs = axisTaps(rect.x, rect.w, dw, srcW);
  const ys = axisTaps(rect.y, rect.h, dh, srcH);
  const kx = xs.k, ky = ys.k;
  const inv = 1 / (kx * ky);
  const plane = out.rowW * out.planeH;
  const [sB, sG, sR] = norm.scale;
  const [bB, bG, bR] = norm.bias;
  const o = out.data;
  for (let dy = 0; dy < dh; dy++) {
    const rowOut = out.offset + dy * out.rowW;
    for (let dx = 0; dx < dw; dx++) {
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < ky; j++) {
        const ti = dy * ky + j;
        const y0 = ys.i0[ti] * srcW, y1 = ys.i1[ti] * srcW, wy = ys.f[ti];
        for (let i = 0; i < kx; i++) {
          const tj = dx * kx + i;
          const x0 = xs.i0[tj], x1 = xs.i1[tj], wx = xs.f[tj];
          const p00 = (y0 + x0) * 3, p01 = (y0 + x1) * 3, p10 = (y1 + x0) * 3, p11 = (y1 + x1) * 3;
          const w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
          r += src[p00] * w00 + src[p01] * w01 + src[p10] * w10 + src[p11] * w11;
          g += src[p00 + 1] * w00 + src[p01 + 1] * w01 + src[p10 + 1] * w10 + src[p11 + 1] * w11;
          b += src[p00 + 2] * w00 + src[p01 + 2] * w01 + src[p10 + 2] * w10 + src[p11 + 2] * w11;
        }
      }
      const at = rowOut + dx;
      o[at] = b * inv * sB + bB;
      o[at + plane] = g * inv * sG + bG;
      o[at + 2 * plane] = r * inv * sR + bR;
    }
  }
}

/** Bilinear tap table along one axis: for output index d and sub-tap t, source indices i0/i1 and weight f of i1. */
function axisTaps(start: number, len: number, dn: number, srcN: number): { k: number; i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const step = len / dn;
  const k = Math.min(4, Math.max(1, Math.floor(step + 1e-6)));
  const n = dn * k;
  const i0 = new Int32Array(n), i1 = new Int32Array(n), f = new Float32Array(n);
  for (let d = 0; d < dn; d++) {
    for (let t = 0; t < k; t++) {
      // Centre of the sub-tap in source pixel-centre coordinates.
      let s = start + (d + (t + 0.5) / k) * step - 0.5;
      if (s < 0) s = 0;
      if (s > srcN - 1) s = srcN - 1;
      const a = Math.floor(s);
      const idx = d * k + t;
      i0[idx] = a;
      i1[idx] = a + 1 < srcN ? a + 1 : a;
      f[idx] = s - a;
    }
  }
  return { k, i0, i1, f };
}

// ---------------------------------------------------------------------------------------------
// DB post-processing

export interface DbOptions {
  /** Binarization threshold of the probability map (PaddleOCR det_db_thresh 0.3). */
  thresh: number;
  /** Minimum mean probability of a region (det_db_box_thresh 0.6). */
  boxThresh: number;
  /** Unclip ratio (det_db_unclip_ratio 1.5). */
  unclipRatio: number;
  /** At most this many regions are considered, largest first (max_candidates 1000). */
  maxCandidates: number;
  /** Regions whose shorter side is below this many map pixels are dropped (min_size 3). */
  minSize: number;
}

export const DB_DEFAULTS: DbOptions = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, maxCandidates: 1000, minSize: 3 };

/** A text box in probability-map coordinates (continuous, clamped to the map), with its score. */
export interface MapBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  score: number;
}

/**
 * DB post-processing with AXIS-ALIGNED boxes: the map is thresholded, 8-connected components
 * are labelled (where PaddleOCR takes contours), each component's score is the mean probability
 * over its own pixels (PaddleOCR's "slow" polygon score; the contour fills the component), and
 * its bounding rectangle (not the minimum-area rotated one) is grown by the DB unclip distance
 * `area × ratio / perimeter`. Slanted text therefore gets a looser crop; the recognizer copes with
 * a few degrees, not with steep angles.
 */
export function dbBoxes(prob: Float32Array, w: number, h: number, opts: DbOptions = DB_DEFAULTS): MapBox[] {
  const n = w * h;
  const label = new Int32Array(n); // 0 = unvisited background/foreground, -1 = background seen, k>0 component
  const stack = new Int32Array(n);
  const comps: { x0: number; y0: number; x1: number; y1: number; sum: number; count: number }[] = [];
  const t = opts.thresh;
  for (let start = 0; start < n; start++) {
    if (label[start] !== 0) continue;
    if (!(prob[start] > t)) { label[start] = -1; continue; }
    const id = comps.length + 1;
    let x0 = w, y0 = h, x1 = -1, y1 = -1, sum = 0, count = 0;
    let sp = 0;
    stack[sp++] = start;
    label[start] = id;
    while (sp > 0) {
      const p = stack[--sp];
      const py = (p / w) | 0, px = p - py * w;
      if (px < x0) x0 = px;
      if (px > x1) x1 = px;
      if (py < y0) y0 = py;
      if (py > y1) y1 = py;
      sum += prob[p];
      count++;
      const ya = py > 0 ? py - 1 : py, yb = py < h - 1 ? py + 1 : py;
      const xa = px > 0 ? px - 1 : px, xb = px < w - 1 ? px + 1 : px;
      for (let yy = ya; yy <= yb; yy++) {
        for (let xx = xa; xx <= xb; xx++) {
          const q = yy * w + xx;
          if (label[q] !== 0) continue;
          if (prob[q] > t) { label[q] = id; stack[sp++] = q; } else label[q] = -1;
        }
      }
    }
    comps.push({ x0, y0, x1, y1, sum, count });
  }
  if (comps.length > opts.maxCandidates) {
    comps.sort((a, b) => b.count - a.count);
    comps.length = opts.maxCandidates;
  }
  const out: MapBox[] = [];
  for (const c of comps) {
    // Contour coordinates run through pixel centres, as OpenCV's do.
    const bw = c.x1 - c.x0, bh = c.y1 - c.y0;
    if (Math.min(bw, bh) < opts.minSize) continue;
    const score = c.sum / c.count;
    if (score < opts.boxThresh) continue;
    const d = (bw * bh * opts.unclipRatio) / (2 * (bw + bh));
    if (Math.min(bw, bh) + 2 * d < opts.minSize + 2) continue;
    out.push({
      x0: Math.max(0, c.x0 - d), y0: Math.max(0, c.y0 - d),
      x1: Math.min(w, c.x1 + d), y1: Math.min(h, c.y1 + d), score,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CTC

/**
 * The recognizer's character table from a PaddleOCR dictionary file's text: index 0 is the CTC
 * blank, then one entry per line, then a space (PaddleOCR's use_space_char convention).
 */
export function ctcCharset(dictText: string): string[] {
  const lines = dictText.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return ['', ...lines, ' '];
}

/**
 * Greedy CTC decode of one sequence (T steps × C classes, softmax probabilities, at `offset`):
 * argmax per step, repeats collapsed, blanks dropped. Confidence is the mean of the kept
 * characters' max probabilities (PaddleOCR's score), 0 when nothing is kept.
 */
export function ctcDecode(probs: Float32Array, offset: number, steps: number, classes: number, charset: string[]): { text: string; confidence: number } {
  let text = '';
  let sum = 0, kept = 0, prev = -1;
  for (let s = 0; s < steps; s++) {
    const base = offset + s * classes;
    let best = 0, bestP = probs[base];
    for (let c = 1; c < classes; c++) {
      const p = probs[base + c];
      if (p > bestP) { bestP = p; best = c; }
    }
    if (best !== 0 && best !== prev) {
      text += charset[best] ?? '';
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, confidence: kept > 0 ? sum / kept : 0 };
}

// ---------------------------------------------------------------------------------------------
// Reading order

/**
 * Sorts boxes top-to-bottom, then left-to-right within a line: boxes whose vertical centres lie
 * within half the smaller height of each other are on the same line.
 */
export function readingOrder<T extends { box: { x: number; y: number; w: number; h: number } }>(items: T[]): T[] {
  const sorted = [...items].sort((a, b) => a.box.y - b.box.y || a.box.x - b.box.x);
  for (let i = 1; i < sorted.length; i++) {
    for (let j = i; j > 0; j--) {
      const a = sorted[j - 1].box, b = sorted[j].box;
      const sameLine = Math.abs(a.y + a.h / 2 - (b.y + b.h / 2)) < Math.min(a.h, b.h) / 2;
      if (sameLine && b.x < a.x) [sorted[j - 1], sorted[j]] = [sorted[j], sorted[j - 1]];
      else break;
    }
  }
  return sorted;
}

// ---------------------------------------------------------------------------------------------
// Plates

const PROVINCES = '京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领';
const CN_PLATE = new RegExp(`^[${PROVINCES}][A-Z](?:[A-Z0-9]{5,6}|[A-Z0-9]{4}[挂学警港澳])$`);
const GENERIC_PLATE = /^(?=.*[0-9])(?=.*[A-Z])[A-Z0-9]{4,10}$/;

/** Whether a normalized plate has the Chinese shape (province, letter, 5–6 alphanumerics or 4 + 挂/学/警/港/澳). */
export function isChinesePlate(plate: string): boolean {
  return CN_PLATE.test(plate);
}

/**
 * A recognized text as a plate, or undefined when it does not look like one. NFKC folds
 * full-width letters and digits; spaces, dots (·, ., •), hyphens and colons are stripped; Latin
 * is uppercased. A Chinese plate (province character, letter, then 5–6 alphanumerics — 6 for new
 * energy vehicles — or 4 and a 挂/学/警/港/澳 suffix) has O read as 0 and I as 1 after its
 * second character (those letters are not issued there). Otherwise 4–10 Latin letters and digits
 * with at least one of each pass as a plate of elsewhere.
 */
export function normalizePlate(text: string): string | undefined {
  const s = text.normalize('NFKC').replace(/[\s.·•・\-:_]/g, '').toUpperCase();
  if (s.length >= 7 && PROVINCES.includes(s[0])) {
    const fixed = s.slice(0, 2) + s.slice(2).replace(/O/g, '0').replace(/I/g, '1');
    if (CN_PLATE.test(fixed)) return fixed;
  }
  return GENERIC_PLATE.test(s) ? s : undefined;
}
