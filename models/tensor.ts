// Frames to model input: a packed RGB24 frame (or a normalized region of it) letterboxed into
// the model's NCHW float32 input, and the mapping that takes model-input pixels back to
// normalized frame coordinates.
//
// Letterbox: the (cropped) image is scaled to fit the input keeping its aspect, centred, and the
// rest padded with grey 114/255 (what YOLO models are trained with). Scaling is bilinear with
// half-pixel centres (OpenCV INTER_LINEAR); when the image already has the fitted size (the
// camera's ffmpeg scales frames near the model size) it is a straight copy, only the pad and the
// HWC -> CHW conversion. Bilinear aliases when shrinking by more than ~2x: the camera should
// scale close to the model size upstream.
//
// Runs on the event loop: one pass over the output, no allocation per pixel (a column table per
// call and the caller's output buffer).
import type { Box, RgbFrame } from './types.ts';

export interface InputSpec {
  width: number;
  height: number;
  /** Per channel, in 0..1 units: value = (v/255 - mean) / std. Default 0 and 1. */
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** How model-input pixels map back to the frame (see toFrameBox). */
export interface InputMap {
  frameW: number;
  frameH: number;
  /** Crop origin and size in frame pixels (the whole frame when no region). */
  cropX: number;
  cropY: number;
  cropW: number;
  cropH: number;
  /** Size of the scaled crop inside the input, and its offset (the pad). */
  fitW: number;
  fitH: number;
  padX: number;
  padY: number;
}

export const PAD_VALUE = 114;
const EPS = 1e-6;

/** The crop of a normalized region in whole frame pixels (at least 1x1, inside the frame). */
export function cropRect(frame: { width: number; height: number }, region?: Box): { x: number; y: number; w: number; h: number } {
  if (!region) return { x: 0, y: 0, w: frame.width, h: frame.height };
  // Outward to whole pixels, forgiving float noise (0.6 * 100 = 60.00000000000001).
  const x0 = clampInt(Math.floor(region.x * frame.width + EPS), 0, frame.width - 1);
  const y0 = clampInt(Math.floor(region.y * frame.height + EPS), 0, frame.height - 1);
  const x1 = clampInt(Math.ceil((region.x + region.w) * frame.width - EPS), x0 + 1, frame.width);
  const y1 = clampInt(Math.ceil((region.y + region.h) * frame.height - EPS), y0 + 1, frame.height);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** The letterbox geometry of a crop in an input. */
export function letterbox(frame: { width: number; height: number }, input: { width: number; height: number }, region?: Box): InputMap {
  const c = cropRect(frame, region);
  const scale = Math.min(input.width / c.w, input.height / c.h);
  const fitW = clampInt(Math.round(c.w * scale), 1, input.width);
  const fitH = clampInt(Math.round(c.h * scale), 1, input.height);
  return {
    frameW: frame.width,
    frameH: frame.height,
    cropX: c.x,
    cropY: c.y,
    cropW: c.w,
    cropH: c.h,
    fitW,
    fitH,
    padX: Math.floor((input.width - fitW) / 2),
    padY: Math.floor((input.height - fitH) / 2),
  };
}

/**
 * Fills `out` (length 3*W*H, NCHW) with the letterboxed frame or region; returns the mapping.
 * `out` is the caller's (reuse it between frames, but not while a run still reads it).
 */
export function frameToTensor(frame: RgbFrame, input: InputSpec, out: Float32Array, region?: Box): InputMap {
  const W = input.width;
  const H = input.height;
  const plane = W * H;
  if (out.length !== 3 * plane) throw new Error(`input buffer holds ${out.length} floats, the model needs 3x${H}x${W} = ${3 * plane}`);
  if (frame.data.length < frame.width * frame.height * 3) {
    throw new Error(`frame ${frame.width}x${frame.height} needs ${frame.width * frame.height * 3} bytes of RGB24, got ${frame.data.length}`);
  }
  const map = letterbox(frame, input, region);
  // value = v * a[c] + b[c]
  const mean = input.mean ?? [0, 0, 0];
  const std = input.std ?? [1, 1, 1];
  const a0 = 1 / (255 * std[0]), a1 = 1 / (255 * std[1]), a2 = 1 / (255 * std[2]);
  const b0 = -mean[0] / std[0], b1 = -mean[1] / std[1], b2 = -mean[2] / std[2];

  // Pad: fill whole planes first (cheap, sequential), the image overwrites its rectangle.
  out.fill(PAD_VALUE * a0 + b0, 0, plane);
  out.fill(PAD_VALUE * a1 + b1, plane, 2 * plane);
  out.fill(PAD_VALUE * a2 + b2, 2 * plane, 3 * plane);

  const src = frame.data;
  const fw = frame.width;
  const { cropX, cropY, cropW, cropH, fitW, fitH, padX, padY } = map;
  const p1 = plane;
  const p2 = 2 * plane;

  if (fitW === cropW && fitH === cropH) {
    for (let y = 0; y < fitH; y++) {
      let s = ((cropY + y) * fw + cropX) * 3;
      let d = (padY + y) * W + padX;
      for (let x = 0; x < fitW; x++, s += 3, d++) {
        out[d] = src[s] * a0 + b0;
        out[p1 + d] = src[s + 1] * a1 + b1;
        out[p2 + d] = src[s + 2] * a2 + b2;
      }
    }
    return map;
  }

  // Bilinear, half-pixel centres. Column table: byte offsets of both neighbours and the weight.
  const col0 = new Int32Array(fitW);
  const col1 = new Int32Array(fitW);
  const colW = new Float32Array(fitW);
  const sx = cropW / fitW;
  for (let x = 0; x < fitW; x++) {
    const fx = clampNum((x + 0.5) * sx - 0.5, 0, cropW - 1);
    const x0 = Math.floor(fx);
    col0[x] = (cropX + x0) * 3;
    col1[x] = (cropX + Math.min(x0 + 1, cropW - 1)) * 3;
    colW[x] = fx - x0;
  }
  const sy = cropH / fitH;
  for (let y = 0; y < fitH; y++) {
    const fy = clampNum((y + 0.5) * sy - 0.5, 0, cropH - 1);
    const y0 = Math.floor(fy);
    const wy = fy - y0;
    const r0 = (cropY + y0) * fw * 3;
    const r1 = (cropY + Math.min(y0 + 1, cropH - 1)) * fw * 3;
    let d = (padY + y) * W + padX;
    for (let x = 0; x < fitW; x++, d++) {
      const wx = colW[x];
      const i00 = r0 + col0[x], i01 = r0 + col1[x], i10 = r1 + col0[x], i11 = r1 + col1[x];
      out[d] = lerp2(src, i00, i01, i10, i11, wx, wy) * a0 + b0;
      out[p1 + d] = lerp2(src, i00 + 1, i01 + 1, i10 + 1, i11 + 1, wx, wy) * a1 + b1;
      out[p2 + d] = lerp2(src, i00 + 2, i01 + 2, i10 + 2, i11 + 2, wx, wy) * a2 + b2;
    }
  }
  return map;
}

/**
 * A box in model-input pixels (corners) back to the frame: normalized, clamped to 0..1.
 * Undefined when nothing of it is left inside the image (all in the pad).
 */
export function toFrameBox(map: InputMap, x1: number, y1: number, x2: number, y2: number): Box | undefined {
  const kx = map.cropW / map.fitW;
  const ky = map.cropH / map.fitH;
  // Clamp to the crop first: a box reaching into the pad or past the crop ends at the crop edge.
  const fx1 = clampNum(map.cropX + (x1 - map.padX) * kx, map.cropX, map.cropX + map.cropW) / map.frameW;
  const fy1 = clampNum(map.cropY + (y1 - map.padY) * ky, map.cropY, map.cropY + map.cropH) / map.frameH;
  const fx2 = clampNum(map.cropX + (x2 - map.padX) * kx, map.cropX, map.cropX + map.cropW) / map.frameW;
  const fy2 = clampNum(map.cropY + (y2 - map.padY) * ky, map.cropY, map.cropY + map.cropH) / map.frameH;
  if (fx2 <= fx1 || fy2 <= fy1) return undefined;
  return { x: fx1, y: fy1, w: fx2 - fx1, h: fy2 - fy1 };
}

function lerp2(s: Uint8Array, i00: number, i01: number, i10: number, i11: number, wx: number, wy: number): number {
  const top = s[i00] + (s[i01] - s[i00]) * wx;
  const bot = s[i10] + (s[i11] - s[i10]) * wx;
  return top + (bot - top) * wy;
}
function clampInt(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
function clampNum(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
