// Plane geometry of the video analytics, in NORMALIZED image coordinates (x right, y down,
// 0..1): boxes, polygons, segments. Pure functions, no allocation beyond their results.
import type { Box, Point2 } from './types.ts';

export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Rounded for events (4 decimals of the image ≈ 0.06 px at 1920 wide). */
export const round = (v: number, digits = 4): number => Math.round(v * 10 ** digits) / 10 ** digits;
export const roundBox = (b: Box): Box => ({ x: round(b.x), y: round(b.y), w: round(b.w), h: round(b.h) });

export function centroid(b: Box): Point2 {
  return [b.x + b.w / 2, b.y + b.h / 2];
}

/** Middle of the box's bottom edge: where a standing person or a vehicle touches the ground. */
export function bottomCentre(b: Box): Point2 {
  return [b.x + b.w / 2, b.y + b.h];
}

export function area(b: Box): number {
  return Math.max(0, b.w) * Math.max(0, b.h);
}

export function intersection(a: Box, b: Box): number {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Intersection over union, 0..1. */
export function iou(a: Box, b: Box): number {
  const i = intersection(a, b);
  if (i === 0) return 0;
  return i / (area(a) + area(b) - i);
}

export function union(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}

/** Gap between two boxes (0 when they touch or overlap): the larger of the x and y gaps. */
export function gap(a: Box, b: Box): number {
  const gx = Math.max(0, Math.max(a.x, b.x) - Math.min(a.x + a.w, b.x + b.w));
  const gy = Math.max(0, Math.max(a.y, b.y) - Math.min(a.y + a.h, b.y + b.h));
  return Math.max(gx, gy);
}

/** The box grown by `px` and `py` on each side, clipped to the image. */
export function pad(b: Box, px: number, py = px): Box {
  const x0 = clamp01(b.x - px);
  const y0 = clamp01(b.y - py);
  return { x: x0, y: y0, w: clamp01(b.x + b.w + px) - x0, h: clamp01(b.y + b.h + py) - y0 };
}

export function containsPoint(b: Box, p: Point2): boolean {
  return p[0] >= b.x && p[0] <= b.x + b.w && p[1] >= b.y && p[1] <= b.y + b.h;
}

/**
 * Even-odd ray casting. A point exactly on an edge may fall either side (the zones' edges are
 * drawn by hand; a tie is not meaningful). Polygons of fewer than 3 points contain nothing.
 */
export function pointInPolygon(p: Point2, poly: readonly Point2[]): boolean {
  const n = poly.length;
  if (n < 3) return false;
  const [x, y] = p;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function polygonBounds(poly: readonly Point2[]): Box {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of poly) {
    if (x < x0) x0 = x;
    if (y < y0) y0 = y;
    if (x > x1) x1 = x;
    if (y > y1) y1 = y;
  }
  return poly.length ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : { x: 0, y: 0, w: 0, h: 0 };
}

/** z of (a−o)×(b−o). In image coordinates (y down) it is NEGATIVE when b lies visually to the left of o→a. */
export function cross(o: Point2, a: Point2, b: Point2): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/**
 * Where segment p→q crosses segment a→b: the point, or undefined when they do not cross
 * (parallel segments never cross; touching an end counts).
 */
export function segmentIntersection(p: Point2, q: Point2, a: Point2, b: Point2): Point2 | undefined {
  const rx = q[0] - p[0], ry = q[1] - p[1];
  const sx = b[0] - a[0], sy = b[1] - a[1];
  const den = rx * sy - ry * sx;
  if (den === 0) return undefined;
  const t = ((a[0] - p[0]) * sy - (a[1] - p[1]) * sx) / den;
  const u = ((a[0] - p[0]) * ry - (a[1] - p[1]) * rx) / den;
  if (t < 0 || t > 1 || u < 0 || u > 1) return undefined;
  return [p[0] + t * rx, p[1] + t * ry];
}

export function distance(a: Point2, b: Point2): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * The box grown (never shrunk) to the pixel aspect `aspect` (w/h in pixels) of the model input
 * on an image of `imgW`×`imgH` pixels, with at least `minSidePx` on its shorter side, moved inside
 * the image (shrunk only when the image itself is smaller).
 */
export function toAspect(b: Box, aspect: number, imgW: number, imgH: number, minSidePx = 0): Box {
  let wPx = b.w * imgW;
  let hPx = b.h * imgH;
  if (wPx / hPx < aspect) wPx = hPx * aspect;
  else hPx = wPx / aspect;
  const minScale = Math.max(1, minSidePx / Math.min(wPx, hPx));
  wPx *= minScale;
  hPx *= minScale;
  const fit = Math.min(1, imgW / wPx, imgH / hPx);
  wPx *= fit;
  hPx *= fit;
  const w = wPx / imgW, h = hPx / imgH;
  const cx = b.x + b.w / 2, cy = b.y + b.h / 2;
  const x = Math.min(Math.max(0, cx - w / 2), 1 - w);
  const y = Math.min(Math.max(0, cy - h / 2), 1 - h);
  return { x, y, w, h };
}
