// Plane geometry on exact numbers: polygons (convex, concave), segments, IoU, aspect regions.
import { describe, expect, test } from 'vitest';
import { bottomCentre, cross, iou, pointInPolygon, segmentIntersection, toAspect, union } from './geometry.ts';
import type { Point2 } from './types.ts';

describe('pointInPolygon', () => {
  const square: Point2[] = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]];
  // An L: the square minus its top-right quarter.
  const ell: Point2[] = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.2, 0.6]];
  test('convex', () => {
    expect(pointInPolygon([0.4, 0.4], square)).toBe(true);
    expect(pointInPolygon([0.1, 0.4], square)).toBe(false);
    expect(pointInPolygon([0.4, 0.61], square)).toBe(false);
    expect(pointInPolygon([0.59, 0.21], square)).toBe(true);
  });
  test('concave: the notch is outside', () => {
    expect(pointInPolygon([0.5, 0.3], ell)).toBe(false);
    expect(pointInPolygon([0.3, 0.3], ell)).toBe(true);
    expect(pointInPolygon([0.5, 0.5], ell)).toBe(true);
  });
  test('degenerate polygons contain nothing', () => {
    expect(pointInPolygon([0.5, 0.5], [[0, 0], [1, 1]])).toBe(false);
  });
});

describe('segments', () => {
  test('cross is negative for a point visually left of from→to (y down)', () => {
    expect(cross([0, 0.5], [1, 0.5], [0.5, 0.4])).toBeCloseTo(-0.1, 12);
    expect(cross([0, 0.5], [1, 0.5], [0.5, 0.6])).toBeCloseTo(0.1, 12);
  });
  test('intersection point, and none past the ends or when parallel', () => {
    expect(segmentIntersection([0.5, 0.4], [0.5, 0.6], [0, 0.5], [1, 0.5])).toEqual([0.5, 0.5]);
    const p = segmentIntersection([0.2, 0.2], [0.4, 0.6], [0, 0.5], [1, 0.5])!;
    expect(p[0]).toBeCloseTo(0.35, 12);
    expect(p[1]).toBeCloseTo(0.5, 12);
    expect(segmentIntersection([1.2, 0.4], [1.2, 0.6], [0, 0.5], [1, 0.5])).toBeUndefined();
    expect(segmentIntersection([0, 0.4], [1, 0.4], [0, 0.5], [1, 0.5])).toBeUndefined();
  });
});

describe('boxes', () => {
  test('iou and union', () => {
    expect(iou({ x: 0, y: 0, w: 0.2, h: 0.2 }, { x: 0.1, y: 0, w: 0.2, h: 0.2 })).toBeCloseTo(0.02 / 0.06, 12);
    expect(iou({ x: 0, y: 0, w: 0.1, h: 0.1 }, { x: 0.5, y: 0.5, w: 0.1, h: 0.1 })).toBe(0);
    expect(union({ x: 0.1, y: 0.2, w: 0.1, h: 0.1 }, { x: 0.3, y: 0.1, w: 0.1, h: 0.1 })).toEqual({ x: 0.1, y: 0.1, w: expect.closeTo(0.3, 12), h: expect.closeTo(0.2, 12) });
    expect(bottomCentre({ x: 0.1, y: 0.2, w: 0.2, h: 0.4 })).toEqual([0.2, expect.closeTo(0.6, 12)]);
  });
  test('toAspect: square in pixels, minimum side, kept inside the image', () => {
    // 640×360, box 64×36 px at the centre → square of at least 120 px.
    const r = toAspect({ x: 0.45, y: 0.45, w: 0.1, h: 0.1 }, 1, 640, 360, 120);
    expect(r.w * 640).toBeCloseTo(120, 9);
    expect(r.h * 360).toBeCloseTo(120, 9);
    expect(r.x + r.w / 2).toBeCloseTo(0.5, 12);
    // A box at the right edge is moved inside.
    const e = toAspect({ x: 0.95, y: 0.0, w: 0.05, h: 0.1 }, 1, 640, 360, 120);
    expect(e.x + e.w).toBeCloseTo(1, 12);
    expect(e.y).toBe(0);
    // A box taller than the image is shrunk to fit.
    const t = toAspect({ x: 0.4, y: 0, w: 0.2, h: 1 }, 1, 640, 360);
    expect(t.h).toBeCloseTo(1, 12);
    expect(t.w * 640).toBeCloseTo(360, 9);
  });
});
