// Test images for the OCR and evidence tests: text rendered by sharp (librsvg + fontconfig) from
// an SVG, black on white, returned as a packed RGB frame (the models/ RgbFrame layout). Fonts are
// the Debian ones: DejaVu Sans for Latin, WenQuanYi Micro Hei (fonts-wqy-microhei, installed by
// scripts/ensure-system-deps.sh) for Chinese.
import sharp from 'sharp';
import type { Box, RgbFrame } from '../../../models/types.ts';

export interface RenderTextOptions {
  width: number;
  height: number;
  fontSize: number;
  font?: 'sans' | 'WenQuanYi Micro Hei';
  /** Left edge of the text in px (default: text centred horizontally). */
  x?: number;
  /** Top of the text line in px (default: centred vertically). */
  y?: number;
}

const FAMILY = { sans: 'DejaVu Sans', 'WenQuanYi Micro Hei': 'WenQuanYi Micro Hei' } as const;

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** Black text on a white width×height image. */
export async function renderText(text: string, opts: RenderTextOptions): Promise<RgbFrame> {
  const { width, height, fontSize } = opts;
  const family = FAMILY[opts.font ?? 'sans'];
  // Baseline ≈ top + 0.8 em for both fonts; centring uses the same approximation.
  const top = opts.y ?? (height - fontSize) / 2;
  const baseline = top + fontSize * 0.8;
  const anchor = opts.x === undefined ? `x="${width / 2}" text-anchor="middle"` : `x="${opts.x}"`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text ${anchor} y="${baseline}" font-family="${family}" font-size="${fontSize}" fill="#000">${escapeXml(text)}</text>` +
    `</svg>`;
  return rasterize(svg, width, height);
}

export interface TextItem {
  text: string;
  /** Left edge and top of the line, px. */
  x: number;
  y: number;
  fontSize: number;
  font?: 'sans' | 'WenQuanYi Micro Hei';
}

/** Several text items on one white width×height image (reading-order tests). */
export async function renderLines(items: TextItem[], size: { width: number; height: number }): Promise<RgbFrame> {
  const texts = items.map((t) =>
    `<text x="${t.x}" y="${t.y + t.fontSize * 0.8}" font-family="${FAMILY[t.font ?? 'sans']}" font-size="${t.fontSize}" fill="#000">${escapeXml(t.text)}</text>`);
  return rasterize(`<svg xmlns="http://www.w3.org/2000/svg" width="${size.width}" height="${size.height}"><rect width="100%" height="100%" fill="#fff"/>${texts.join('')}</svg>`, size.width, size.height);
}

/** Any SVG scene (width×height) as an RGB frame: plates on cars, signs on walls. */
export async function renderSvg(svg: string, width: number, height: number): Promise<RgbFrame> {
  return rasterize(svg, width, height);
}

async function rasterize(svg: string, width: number, height: number): Promise<RgbFrame> {
  const { data, info } = await sharp(Buffer.from(svg)).flatten({ background: '#fff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new Error(`text-image: sharp gave ${info.width}x${info.height}x${info.channels}, wanted ${width}x${height}x3`);
  }
  return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length), ts: Date.now(), mono: performance.now(), seq: 0 };
}

/** A white frame of the given size. */
export function whiteFrame(width: number, height: number): RgbFrame {
  return { width, height, data: new Uint8Array(width * height * 3).fill(255), ts: Date.now(), mono: performance.now(), seq: 0 };
}

/** Normalized bounding box of the ink (pixels darker than `below` on any channel); undefined on a blank image. */
export function inkBox(frame: Pick<RgbFrame, 'width' | 'height' | 'data'>, below = 128): Box | undefined {
  const { width: w, height: h, data } = frame;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      if (data[i] < below || data[i + 1] < below || data[i + 2] < below) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return undefined;
  return { x: x0 / w, y: y0 / h, w: (x1 + 1 - x0) / w, h: (y1 + 1 - y0) / h };
}
