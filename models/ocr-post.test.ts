// The typed-array parts of the OCR on known inputs: tensor sampling, DB boxes, CTC decoding,
// reading order, and the plate normalizer the pipeline's plate events use.
import { describe, expect, it } from 'vitest';
import { DB_DEFAULTS, channelNorm, ctcCharset, ctcDecode, dbBoxes, isChinesePlate, normalizePlate, readingOrder, sampleToChw } from './ocr-post.ts';

describe('sampleToChw', () => {
  it('writes BGR planes, normalized, into its part of a padded tensor', () => {
    const src = new Uint8Array(4 * 2 * 3);
    for (let p = 0; p < 8; p++) src.set([255, 0, 51], p * 3); // R=255, G=0, B=51
    const out = new Float32Array(3 * 3 * 5);
    sampleToChw(src, 4, 2, { x: 0, y: 0, w: 4, h: 2 }, 2, 2, { data: out, offset: 0, rowW: 5, planeH: 3 }, channelNorm([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]));
    const at = (c: number, y: number, x: number) => out[c * 15 + y * 5 + x];
    expect(at(0, 0, 0)).toBeCloseTo(51 / 127.5 - 1, 5); // B first
    expect(at(1, 1, 1)).toBeCloseTo(-1, 5);
    expect(at(2, 1, 0)).toBeCloseTo(1, 5);
    expect(at(2, 0, 2)).toBe(0); // padding column untouched
    expect(at(0, 2, 0)).toBe(0); // padding row untouched
  });

  it('averages when shrinking and takes only the rectangle', () => {
    // 8×1 image: left half 0, right half 200; sample the right half down to 1 px.
    const src = new Uint8Array(8 * 3);
    for (let x = 4; x < 8; x++) src.fill(200, x * 3, x * 3 + 3);
    const out = new Float32Array(3);
    sampleToChw(src, 8, 1, { x: 4, y: 0, w: 4, h: 1 }, 1, 1, { data: out, offset: 0, rowW: 1, planeH: 1 }, { scale: [1, 1, 1], bias: [0, 0, 0] });
    expect([...out]).toEqual([200, 200, 200]);
    sampleToChw(src, 8, 1, { x: 0, y: 0, w: 8, h: 1 }, 1, 1, { data: out, offset: 0, rowW: 1, planeH: 1 }, { scale: [1, 1, 1], bias: [0, 0, 0] });
    expect(out[0]).toBeCloseTo(100, 3); // all 8 px averaged
  });
});

describe('dbBoxes', () => {
  function map(w: number, h: number, rects: [number, number, number, number, number][]): Float32Array {
    const m = new Float32Array(w * h);
    for (const [x0, y0, x1, y1, p] of rects) for (let y = y0; y <= y1; y++) m.fill(p, y * w + x0, y * w + x1 + 1);
    return m;
  }

  it('finds each region, grows it by the unclip distance and drops weak or tiny ones', () => {
    const m = map(100, 60, [
      [10, 10, 49, 19, 0.9], // 39×9 between pixel centres
      [60, 40, 90, 50, 0.5], // above 0.3 but its mean is under 0.6
      [5, 45, 6, 55, 0.95], // 1 px wide
    ]);
    const boxes = dbBoxes(m, 100, 60);
    expect(boxes).toHaveLength(1);
    const d = (39 * 9 * 1.5) / (2 * (39 + 9));
    expect(boxes[0].x0).toBeCloseTo(10 - d, 5);
    expect(boxes[0].x1).toBeCloseTo(49 + d, 5);
    expect(boxes[0].y0).toBeCloseTo(10 - d, 5);
    expect(boxes[0].y1).toBeCloseTo(19 + d, 5);
    expect(boxes[0].score).toBeCloseTo(0.9, 5);
  });

  it('keeps separate components apart and clamps to the map', () => {
    const m = map(64, 32, [[0, 2, 20, 12, 0.8], [30, 2, 63, 12, 0.7]]);
    const boxes = dbBoxes(m, 64, 32).sort((a, b) => a.x0 - b.x0);
    expect(boxes).toHaveLength(2);
    expect(boxes[0].x0).toBe(0);
    expect(boxes[1].x1).toBe(64);
    expect(dbBoxes(new Float32Array(64 * 32), 64, 32, DB_DEFAULTS)).toEqual([]);
  });
});

describe('CTC', () => {
  const charset = ctcCharset('a\nb\r\nc\n');

  it('builds blank + dictionary + space', () => {
    expect(charset).toEqual(['', 'a', 'b', 'c', ' ']);
    expect(ctcCharset('x\ny')).toEqual(['', 'x', 'y', ' ']);
  });

  it('collapses repeats, keeps a repeat split by a blank, averages the kept probabilities', () => {
    // steps: a a _ a b b space c
    const seq = [1, 1, 0, 1, 2, 2, 4, 3];
    const top = [0.9, 0.8, 0.99, 0.7, 0.6, 0.9, 0.5, 0.4];
    const C = charset.length;
    const probs = new Float32Array(2 + seq.length * C); // at an offset, as in a batch
    seq.forEach((c, s) => {
      const base = 2 + s * C;
      for (let k = 0; k < C; k++) probs[base + k] = (1 - top[s]) / (C - 1);
      probs[base + c] = top[s];
    });
    const r = ctcDecode(probs, 2, seq.length, C, charset);
    expect(r.text).toBe('aab c');
    expect(r.confidence).toBeCloseTo((0.9 + 0.7 + 0.6 + 0.5 + 0.4) / 5, 5);
    expect(ctcDecode(new Float32Array(C * 3).map((_, i) => (i % C === 0 ? 1 : 0)), 0, 3, C, charset)).toEqual({ text: '', confidence: 0 });
  });
});

describe('readingOrder', () => {
  it('sorts lines top to bottom and boxes on a line left to right', () => {
    const b = (t: string, x: number, y: number, h = 0.1) => ({ t, box: { x, y, w: 0.2, h } });
    const out = readingOrder([b('lower', 0.1, 0.5), b('right', 0.6, 0.1), b('left', 0.1, 0.12), b('mid', 0.35, 0.11)]);
    expect(out.map((o) => o.t)).toEqual(['left', 'mid', 'right', 'lower']);
  });
});

describe('normalizePlate', () => {
  it.each([
    ['沪A12345', '沪A12345'],
    ['沪A·12345', '沪A12345'],
    ['沪 a 123 45', '沪A12345'],
    ['粤B.D12345', '粤BD12345'], // new-energy: 6 after the letter
    ['京AO12I4', '京A01214'], // O and I are not issued after the letter
    ['苏E1234学', '苏E1234学'],
    ['ＡＢＣ１２３', 'ABC123'], // full-width folded
    ['ab-c 123', 'ABC123'],
  ])('%s → %s', (text, plate) => {
    expect(normalizePlate(text)).toBe(plate);
  });

  it.each(['', 'WAYSIDE', '2026', 'WAYSIDE 2026 TOOLONG', '沪12345', '沪A1234', '美A12345X'])('%s is no plate', (text) => {
    expect(normalizePlate(text)).toBeUndefined();
  });

  it('tells the Chinese shape', () => {
    expect(isChinesePlate('沪A12345')).toBe(true);
    expect(isChinesePlate('ABC123')).toBe(false);
  });
});
