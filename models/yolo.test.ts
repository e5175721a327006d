// YOLO head helpers: layouts and their errors, per-class thresholds, class-aware NMS, names.
import { describe, expect, it } from 'vitest';
import { letterbox } from './tensor.ts';
import type { Detection } from './types.ts';
import { checkInput, classNames, decode, nms, parseUltralyticsNames, resolveLayout, thresholdOf } from './yolo.ts';

const det = (label: string, score: number, x: number, y = 0, w = 0.2, h = 0.2, classId = label === 'car' ? 1 : 0): Detection => ({ label, classId, score, box: { x, y, w, h } });

describe('yolo', () => {
  it('tells the layouts apart and names the shapes when neither fits', () => {
    expect(resolveLayout('m', [1, 84, 8400])).toEqual({ layout: 'yolov8', classes: 80 });
    expect(resolveLayout('m', [1, 25200, 85])).toEqual({ layout: 'yolov5', classes: 80 });
    expect(resolveLayout('m', [1, 6, 16], 2)).toEqual({ layout: 'yolov8', classes: 2 });
    expect(() => resolveLayout('x', [1, 7, 8400], 2)).toThrow('model "x": output [1,7,8400] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N] for 2 classes');
    expect(() => resolveLayout('x', [1, 96])).toThrow('model "x": output [1,96] fits neither yolov5 [1,N,5+C] nor yolov8 [1,4+C,N]');
    expect(() => resolveLayout('x', [1, 6, 16], 2, 'yolov5')).toThrow('model "x": output [1,6,16] does not fit yolov5 [1,N,5+C] for 2 classes');
    expect(() => checkInput('x', [1, 64, 64, 3])).toThrow('model "x": input [1,64,64,3] is not [1,3,H,W] (NCHW RGB)');
    expect(checkInput('x', [1, 3, 'h', 'w'], { width: 320, height: 240 })).toEqual({ width: 320, height: 240 });
  });

  it('per-class thresholds: label, then default, then 0.5', () => {
    expect(thresholdOf({ person: 0.3, default: 0.7 }, 'person')).toBe(0.3);
    expect(thresholdOf({ person: 0.3, default: 0.7 }, 'car')).toBe(0.7);
    expect(thresholdOf({}, 'car')).toBe(0.5);
    // A v8 head [1,6,2]: box 0 person 0.6, box 1 car 0.6.
    const data = new Float32Array([8, 24, 8, 24, 16, 16, 16, 16, 0.6, 0.1, 0.1, 0.6]);
    const map = letterbox({ width: 32, height: 32 }, { width: 32, height: 32 });
    const labels = (t: Record<string, number>) => decode(data, [1, 6, 2], 'yolov8', ['person', 'car'], t, map).map((d) => d.label);
    expect(labels({})).toEqual(['person', 'car']);
    expect(labels({ person: 0.7 })).toEqual(['car']);
    expect(labels({ default: 0.65, person: 0.55 })).toEqual(['person']);
  });

  it('NMS keeps the best of overlapping boxes of one class, and overlapping boxes of other classes', () => {
    const kept = nms([det('person', 0.6, 0.01), det('person', 0.9, 0), det('car', 0.8, 0.02), det('person', 0.7, 0.5)]);
    expect(kept.map((d) => [d.label, d.score])).toEqual([['person', 0.9], ['car', 0.8], ['person', 0.7]]);
    // IoU of a 0.2 box shifted by 0.1: 0.02/0.06 = 0.33 < 0.45 -> both stay.
    expect(nms([det('person', 0.9, 0), det('person', 0.8, 0.1)])).toHaveLength(2);
  });

  it('parses Ultralytics names and falls back in order', () => {
    expect(parseUltralyticsNames("{0: 'person', 1: 'traffic light', 2: \"it's\", 3: 'a, b: c'}")).toEqual(['person', 'traffic light', "it's", 'a, b: c']);
    expect(parseUltralyticsNames('person,car')).toBeUndefined();
    expect(parseUltralyticsNames("{0: 'a', 2: 'c'}")).toBeUndefined();
    const meta = "{0: 'person', 1: 'car'}";
    expect(classNames({ override: ['o'], manifest: ['m'], metadata: meta }, 1)).toEqual(['o']);
    expect(classNames({ manifest: ['m'], metadata: meta }, 1)).toEqual(['m']);
    expect(classNames({ metadata: meta }, 2)).toEqual(['person', 'car']);
    expect(classNames({ metadata: 'junk' }, 2)).toEqual(['class0', 'class1']);
  });
});
