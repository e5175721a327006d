// YOLO detection heads: which layout an output is, decoding it into detections (per-class
// thresholds, letterbox/crop undone to normalized frame boxes), class-aware NMS, and class names
// (config > manifest > the model's Ultralytics `names` metadata > class<N>).
//   yolov5: [1, N, 5+C]  rows of cx, cy, w, h, objectness, class scores (score = obj * class)
//   yolov8: [1, 4+C, N]  channels cx, cy, w, h, class scores (also YOLOv11)
// Boxes are in model-input pixels; scores are expected already through their sigmoid (as
// exported by Ultralytics).
import { toFrameBox, type InputMap } from './tensor.ts';
import type { Detection, YoloLayout } from './types.ts';

export const NMS_IOU = 0.45;
export const DEFAULT_THRESHOLD = 0.5;
/** Most detections kept per frame (Ultralytics' max_det). */
export const MAX_DETECTIONS = 300;

/** `thresholds[label] ?? thresholds.default ?? 0.5`. */
export function thresholdOf(thresholds: Record<string, number> | undefined, label: string): number {
  return thresholds?.[label] ?? thresholds?.default ?? DEFAULT_THRESHOLD;
}

/** The model's input as [1,3,H,W]; dynamic H/W (names or -1) fall back to `fallback`. */
export function checkInput(model: string, dims: readonly (number | string)[], fallback?: { width: number; height: number }): { width: number; height: number } {
  const shape = `[${dims.join(',')}]`;
  const fixed = (d: number | string | undefined) => typeof d === 'number' && d > 0;
  const ok = dims.length === 4 && (dims[0] === 1 || !fixed(dims[0])) && dims[1] === 3;
  if (!ok) throw new Error(`model "${model}": input ${shape} is not [1,3,H,W] (NCHW RGB)`);
  const height = fixed(dims[2]) ? (dims[2] as number) : fallback?.height;
  const width = fixed(dims[3]) ? (dims[3] as number) : fallback?.width;
  if (!width || !height) throw new Error(`model "${model}": input ${shape} has a dynamic size and the manifest gives no input width/height`);
  return { width, height };
}

/**
 * The layout and class count an output of `dims` has. `classes` (when known) must fit it;
 * `layout` (when the manifest says) is the only one tried. Throws naming the shapes.
 */
export function resolveLayout(model: string, dims: readonly number[], classes?: number, layout?: YoloLayout): { layout: YoloLayout; classes: number } {
  const fits: { layout: YoloLayout; classes: number }[] = [];
  if (dims.length === 3 && dims[0] === 1) {
    const [, a, b] = dims;
    // v8: channels are the small side (4+C << N); v5: boxes rows, 5+C columns.
    const v8 = a - 4;
    const v5 = b - 5;
    if ((!layout || layout === 'yolov8') && v8 >= 1 && (classes === undefined ? a < b : v8 === classes)) fits.push({ layout: 'yolov8', classes: v8 });
    if ((!layout || layout === 'yolov5') && v5 >= 1 && (classes === undefined ? b < a : v5 === classes)) fits.push({ layout: 'yolov5', classes: v5 });
  }
  if (fits.length) return fits[0];
  const which = layout === 'yolov5' ? 'yolov5 [1,N,5+C]' : layout === 'yolov8' ? 'yolov8 [1,4+C,N]' : 'neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N]';
  const fitsWord = layout ? 'does not fit' : 'fits';
  return fail(`model "${model}": output [${dims.join(',')}] ${fitsWord} ${which}${classes === undefined ? '' : ` for ${classes} classes`}`);
}

function fail(msg: string): never {
  throw new Error(msg);
}

/**
 * Detections of one output (before NMS), boxes mapped to the frame through `map`. Per box the
 * best class only; below its threshold it is dropped.
 */
export function decode(
  data: Float32Array,
  dims: readonly number[],
  layout: YoloLayout,
  classes: string[],
  thresholds: Record<string, number> | undefined,
  map: InputMap,
): Detection[] {
  const C = classes.length;
  const limits = new Float32Array(C);
  let low = Infinity;
  for (let c = 0; c < C; c++) {
    limits[c] = thresholdOf(thresholds, classes[c]);
    if (limits[c] < low) low = limits[c];
  }
  const out: Detection[] = [];
  const push = (cx: number, cy: number, w: number, h: number, c: number, score: number) => {
    const box = toFrameBox(map, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
    if (box) out.push({ label: classes[c], classId: c, score, box });
  };
  if (layout === 'yolov8') {
    const N = dims[2];
    for (let i = 0; i < N; i++) {
      let best = -1;
      let score = -Infinity;
      for (let c = 0, at = 4 * N + i; c < C; c++, at += N) {
        if (data[at] > score) {
          score = data[at];
          best = c;
        }
      }
      if (best < 0 || score < limits[best]) continue;
      push(data[i], data[N + i], data[2 * N + i], data[3 * N + i], best, score);
    }
  } else {
    const N = dims[1];
    const stride = 5 + C;
    for (let i = 0, row = 0; i < N; i++, row += stride) {
      const obj = data[row + 4];
      if (!(obj >= low)) continue; // obj * class <= obj when class scores are probabilities
      let best = -1;
      let score = -Infinity;
      for (let c = 0; c < C; c++) {
        const s = obj * data[row + 5 + c];
        if (s > score) {
          score = s;
          best = c;
        }
      }
      if (best < 0 || score < limits[best]) continue;
      push(data[row], data[row + 1], data[row + 2], data[row + 3], best, score);
    }
  }
  return out;
}

export function iou(a: Detection['box'], b: Detection['box']): number {
  const ix = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const iy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** Class-aware non-maximum suppression: best first, an overlap above `threshold` of the same class goes. */
export function nms(dets: Detection[], threshold = NMS_IOU, max = MAX_DETECTIONS): Detection[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.length >= max) break;
    let keep = true;
    for (const k of kept) {
      if (k.classId === d.classId && k.label === d.label && iou(k.box, d.box) > threshold) {
        keep = false;
        break;
      }
    }
    if (keep) kept.push(d);
  }
  return kept;
}

/**
 * Ultralytics writes class names as a Python dict literal: "{0: 'person', 1: 'bicycle', ...}"
 * (names may hold quotes of the other kind, commas, colons). Undefined when it is not one.
 */
export function parseUltralyticsNames(text: string): string[] | undefined {
  const s = text.trim();
  if (!s.startsWith('{') || !s.endsWith('}')) return undefined;
  const names: string[] = [];
  const re = /\s*(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|$)/y;
  const body = s.slice(1, -1);
  re.lastIndex = 0;
  while (re.lastIndex < body.length) {
    const m = re.exec(body);
    if (!m) return undefined;
    names[Number(m[1])] = (m[2] ?? m[3]).replace(/\\(.)/g, '$1');
    if (m[4] === '') break;
  }
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) return undefined;
  return names.length ? names : undefined;
}

/** Class names by precedence: config override > manifest > model metadata > class<N>. */
export function classNames(opts: { override?: string[]; manifest?: string[]; metadata?: string }, count: number | undefined): string[] | undefined {
  if (opts.override?.length) return opts.override;
  if (opts.manifest?.length) return opts.manifest;
  const fromMeta = opts.metadata !== undefined ? parseUltralyticsNames(opts.metadata) : undefined;
  if (fromMeta) return fromMeta;
  return count === undefined ? undefined : Array.from({ length: count }, (_, i) => `class${i}`);
}
