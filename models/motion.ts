// The cheap motion stage that makes detection practical on a CPU (as in Frigate): the frame is
// area-averaged down to a small grey image (width 160 by default, integer math), compared with
// a running-average background, and |frame − background| > threshold gives a mask; the mask is
// dilated and split into connected components (blobs). Motion boxes (for the detector) are the
// blobs merged when close and padded; falling.ts reads the blobs of the same stage, so there is
// one motion computation per frame.
//
// Background: pixels outside the mask follow the frame fast (1/8 per frame: noise, slow light);
// pixels inside it follow slowly (1/128 per frame), so a moving object leaves no ghost behind
// it. A masked pixel that has not changed from one frame to the next for `stillFrames` frames
// is taken into the background at once: a stopped object, or the "ghost" of one that was in
// the first frame and has left, stops being motion after that many frames. When most of the image changes
// at once (lights on, camera moved, exposure jump) the background is reset to the frame and
// that frame reports no boxes.
//
// Allocation: the grey image, background, masks, labels and flood-fill stack are allocated on
// the first frame (and again only when the frame size changes); the result object, its blob
// objects and box objects are reused: callers copy what they keep past the next update().
import type { Box, RgbFrame } from './types.ts';

export interface MotionOptions {
  /** Pixel-difference threshold 0..255 (default 25). */
  threshold?: number;
  /** Fraction of the small image that must change for motion boxes (default 0.002). */
  minArea?: number;
  /** Width of the analysis image in pixels (default 160; never more than the frame's). */
  width?: number;
  /** Smallest blob, in changed pixels of the small image before dilation (default 2). */
  minBlobPixels?: number;
  /** Boxes closer than this (normalized) are merged (default 0.03). */
  mergeGap?: number;
  /** Padding added around each motion box (normalized, default 0.02). */
  padding?: number;
  /** Above this changed fraction the background is reset (default 0.5). */
  resetFraction?: number;
  /** At most this many blobs (largest kept, default 64). */
  maxBlobs?: number;
  /** Frames a masked pixel must stay unchanged to be absorbed into the background (default 15). */
  stillFrames?: number;
}

/** One connected component of the motion mask. Normalized box and centroid; sizes in small-image pixels. */
export interface MotionBlob {
  box: Box;
  cx: number;
  cy: number;
  /** Changed pixels (before dilation). */
  pixels: number;
}

export interface MotionResult {
  /** Fraction of the small image that changed (0..1). */
  fraction: number;
  /** Motion boxes for the detector (empty below minArea, on a reset, or on the first frame). */
  boxes: Box[];
  /** Blobs of the mask, whatever minArea says (falling objects are small). */
  blobs: MotionBlob[];
  /** True when this frame reset the background (first frame, size change, global change). */
  reset: boolean;
  /** The small grey image and its dilated mask (0/1), `width`×`height`; reused. */
  width: number;
  height: number;
  grey: Uint8Array;
  mask: Uint8Array;
}

export interface MotionStage {
  update(frame: RgbFrame): MotionResult;
}

export function createMotion(opts: MotionOptions = {}): MotionStage {
  const threshold = opts.threshold ?? 25;
  const minArea = opts.minArea ?? 0.002;
  const wantW = Math.max(8, Math.round(opts.width ?? 160));
  const minBlobPixels = opts.minBlobPixels ?? 2;
  const mergeGap = opts.mergeGap ?? 0.03;
  const padding = opts.padding ?? 0.02;
  const resetFraction = opts.resetFraction ?? 0.5;
  const maxBlobs = opts.maxBlobs ?? 64;
  const stillFrames = Math.min(255, Math.max(1, opts.stillFrames ?? 15));
  const thr256 = threshold * 256;
  const stillDiff = Math.max(1, threshold >> 1);

  let srcW = 0, srcH = 0, W = 0, H = 0;
  let xs = new Int32Array(0), ys = new Int32Array(0);
  let grey = new Uint8Array(0), prev = new Uint8Array(0), still = new Uint8Array(0), bg = new Int32Array(0), raw = new Uint8Array(0);
  let tmp = new Uint8Array(0), mask = new Uint8Array(0), label = new Int32Array(0), stack = new Int32Array(0);
  const blobPool: MotionBlob[] = [];
  const boxPool: Box[] = [];
  const result: MotionResult = { fraction: 0, boxes: [], blobs: [], reset: true, width: 0, height: 0, grey, mask };

  const alloc = (fw: number, fh: number): void => {
    srcW = fw; srcH = fh;
    W = Math.min(wantW, fw);
    H = Math.max(1, Math.round((fh * W) / fw));
    xs = new Int32Array(W + 1);
    ys = new Int32Array(H + 1);
    for (let i = 0; i <= W; i++) xs[i] = Math.floor((i * fw) / W);
    for (let j = 0; j <= H; j++) ys[j] = Math.floor((j * fh) / H);
    const n = W * H;
    grey = new Uint8Array(n); prev = new Uint8Array(n); still = new Uint8Array(n); bg = new Int32Array(n); raw = new Uint8Array(n);
    tmp = new Uint8Array(n); mask = new Uint8Array(n); label = new Int32Array(n); stack = new Int32Array(n);
    result.width = W; result.height = H; result.grey = grey; result.mask = mask;
  };

  /**
   * Average of each block, grey = (77 R + 150 G + 29 B) >> 8, all integer. Blocks 4 pixels or more
   * across are sampled on every other row and column (a quarter of the reads; still far finer
   * than the 160-wide grid needs).
   */
  const downscale = (d: Uint8Array): void => {
    for (let j = 0; j < H; j++) {
      const y0 = ys[j], y1 = ys[j + 1];
      const sy = y1 - y0 >= 4 ? 2 : 1;
      for (let i = 0; i < W; i++) {
        const x0 = xs[i], x1 = xs[i + 1];
        const sx = x1 - x0 >= 4 ? 2 : 1;
        const step = 3 * sx;
        let sum = 0;
        let cnt = 0;
        for (let y = y0; y < y1; y += sy) {
          let p = (y * srcW + x0) * 3;
          for (let x = x0; x < x1; x += sx, p += step, cnt++) sum += 77 * d[p] + 150 * d[p + 1] + 29 * d[p + 2];
        }
        grey[j * W + i] = cnt > 0 ? Math.round(sum / cnt) >> 8 : 0;
      }
    }
  };

  const blob = (k: number): MotionBlob => {
    let b = blobPool[k];
    if (!b) b = blobPool[k] = { box: { x: 0, y: 0, w: 0, h: 0 }, cx: 0, cy: 0, pixels: 0 };
    return b;
  };
  const boxAt = (k: number): Box => {
    let b = boxPool[k];
    if (!b) b = boxPool[k] = { x: 0, y: 0, w: 0, h: 0 };
    return b;
  };

  return {
    update(frame) {
      if (frame.data.length < frame.width * frame.height * 3) {
        throw new Error(`motion: frame ${frame.seq} has ${frame.data.length} bytes, ${frame.width}x${frame.height} RGB24 needs ${frame.width * frame.height * 3}`);
      }
      let reset = false;
      if (frame.width !== srcW || frame.height !== srcH) {
        alloc(frame.width, frame.height);
        reset = true;
      }
      downscale(frame.data);
      const n = W * H;
      result.blobs.length = 0;
      result.boxes.length = 0;
      if (reset) {
        for (let i = 0; i < n; i++) bg[i] = grey[i] << 8;
        prev.set(grey);
        still.fill(0);
        mask.fill(0);
        result.fraction = 0;
        result.reset = true;
        return result;
      }

      let changed = 0;
      for (let i = 0; i < n; i++) {
        const g = grey[i] << 8;
        const diff = g - bg[i];
        if (diff > thr256 || -diff > thr256) {
          const d = grey[i] - prev[i];
          const s = d <= stillDiff && -d <= stillDiff ? still[i] + 1 : 0;
          if (s >= stillFrames) {
            bg[i] = g;
            raw[i] = 0;
            still[i] = 0;
          } else {
            still[i] = s;
            raw[i] = 1;
            changed++;
            bg[i] += diff >> 7;
          }
        } else {
          raw[i] = 0;
          still[i] = 0;
          bg[i] += diff >> 3;
        }
      }
      prev.set(grey);
      const fraction = changed / n;
      result.fraction = fraction;
      result.reset = false;
      if (fraction > resetFraction) {
        for (let i = 0; i < n; i++) bg[i] = grey[i] << 8;
        still.fill(0);
        mask.fill(0);
        result.reset = true;
        return result;
      }
      if (changed === 0) {
        mask.fill(0);
        return result;
      }

      // Dilate 3x3 (separable: rows into tmp, then columns into mask).
      for (let j = 0; j < H; j++) {
        const r = j * W;
        for (let i = 0; i < W; i++) {
          tmp[r + i] = raw[r + i] | (i > 0 ? raw[r + i - 1] : 0) | (i < W - 1 ? raw[r + i + 1] : 0);
        }
      }
      for (let j = 0; j < H; j++) {
        const r = j * W;
        for (let i = 0; i < W; i++) {
          mask[r + i] = tmp[r + i] | (j > 0 ? tmp[r - W + i] : 0) | (j < H - 1 ? tmp[r + W + i] : 0);
        }
      }

      // Connected components (4-connected flood fill over the dilated mask).
      label.fill(0);
      let count = 0;
      for (let s = 0; s < n; s++) {
        if (!mask[s] || label[s]) continue;
        let top = 0;
        stack[top++] = s;
        label[s] = 1;
        let x0 = W, y0 = H, x1 = -1, y1 = -1, px = 0, sx = 0, sy = 0;
        while (top > 0) {
          const p = stack[--top];
          const y = (p / W) | 0, x = p - y * W;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
          if (raw[p]) { px++; sx += x; sy += y; }
          if (x > 0 && mask[p - 1] && !label[p - 1]) { label[p - 1] = 1; stack[top++] = p - 1; }
          if (x < W - 1 && mask[p + 1] && !label[p + 1]) { label[p + 1] = 1; stack[top++] = p + 1; }
          if (y > 0 && mask[p - W] && !label[p - W]) { label[p - W] = 1; stack[top++] = p - W; }
          if (y < H - 1 && mask[p + W] && !label[p + W]) { label[p + W] = 1; stack[top++] = p + W; }
        }
        if (px < minBlobPixels) continue;
        let k = count;
        if (count >= maxBlobs) {
          // Full: replace the smallest blob when this one is larger.
          k = 0;
          for (let q = 1; q < count; q++) if (blobPool[q].pixels < blobPool[k].pixels) k = q;
          if (blobPool[k].pixels >= px) continue;
        } else {
          count++;
        }
        const b = blob(k);
        b.box.x = x0 / W; b.box.y = y0 / H; b.box.w = (x1 + 1 - x0) / W; b.box.h = (y1 + 1 - y0) / H;
        b.cx = (sx / px + 0.5) / W; b.cy = (sy / px + 0.5) / H;
        b.pixels = px;
      }
      for (let k = 0; k < count; k++) result.blobs.push(blobPool[k]);

      if (fraction < minArea || count === 0) return result;
      // Motion boxes: blob boxes merged while any two are within mergeGap, then padded.
      let m = 0;
      for (let k = 0; k < count; k++) {
        const src = blobPool[k].box, d = boxAt(m++);
        d.x = src.x; d.y = src.y; d.w = src.w; d.h = src.h;
      }
      for (let merged = true; merged;) {
        merged = false;
        for (let a = 0; a < m && !merged; a++) {
          for (let b = a + 1; b < m; b++) {
            const A = boxPool[a], B = boxPool[b];
            const gx = Math.max(A.x, B.x) - Math.min(A.x + A.w, B.x + B.w);
            const gy = Math.max(A.y, B.y) - Math.min(A.y + A.h, B.y + B.h);
            if (gx > mergeGap || gy > mergeGap) continue;
            const x = Math.min(A.x, B.x), y = Math.min(A.y, B.y);
            A.w = Math.max(A.x + A.w, B.x + B.w) - x; A.h = Math.max(A.y + A.h, B.y + B.h) - y;
            A.x = x; A.y = y;
            // Swap the last box into b's place (pool objects are kept, only moved).
            boxPool[b] = boxPool[m - 1];
            boxPool[m - 1] = B;
            m--;
            merged = true;
            break;
          }
        }
      }
      for (let k = 0; k < m; k++) {
        const b = boxPool[k];
        const x0 = Math.max(0, b.x - padding), y0 = Math.max(0, b.y - padding);
        b.w = Math.min(1, b.x + b.w + padding) - x0; b.h = Math.min(1, b.y + b.h + padding) - y0;
        b.x = x0; b.y = y0;
        result.boxes.push(b);
      }
      return result;
    },
  };
}
