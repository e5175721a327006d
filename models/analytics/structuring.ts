// Video structuring: one `video.track` event per ended track (and for every live track at
// close()), summarizing it: class, first/last seen (wall ts), duration, path summary (start,
// end, bbox of the path, distance, mean speed, direction of travel), zones visited, lines
// crossed, best score and dominant colour.
//
// Colour: taken from the frame at the track's best-scoring detection (sampled when the score
// improves): the pixels of the box's inner 60 % (less background), up to ~1000 samples, each
// put in a coarse HSV class (black, white, grey by value/saturation; red, orange, brown,
// yellow, green, cyan, blue, purple, pink by hue); the most frequent class is the colour.
// Direction: the displacement start→end as a compass word with NORTH = UP in the image
// (north, north_east, east, …); `stationary` when it moved less than 0.03 of the image.
import { distance, round, roundBox } from '../geometry.ts';
import type { TrackState } from '../tracker.ts';
import type { AnalyticEvent, Box, RgbFrame } from '../types.ts';

export const COLOURS = ['black', 'white', 'grey', 'red', 'orange', 'brown', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink'] as const;
export type ColourName = (typeof COLOURS)[number];

/** Coarse colour class of one RGB pixel (0..255 each). */
export function colourOf(r: number, g: number, b: number): ColourName {
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  const v = max / 255;
  const s = max === 0 ? 0 : (max - min) / max;
  if (v < 0.2) return 'black';
  if (s < 0.18) return v > 0.78 ? 'white' : v < 0.3 ? 'black' : 'grey';
  let h: number;
  const d = max - min;
  if (max === r) h = (60 * ((g - b) / d) + 360) % 360;
  else if (max === g) h = 60 * ((b - r) / d) + 120;
  else h = 60 * ((r - g) / d) + 240;
  if (h < 15 || h >= 340) return 'red';
  if (h < 45) return v < 0.6 ? 'brown' : 'orange';
  if (h < 70) return 'yellow';
  if (h < 165) return 'green';
  if (h < 195) return 'cyan';
  if (h < 260) return 'blue';
  if (h < 295) return 'purple';
  return 'pink';
}

/** The dominant colour class of the pixels inside `box` (normalized), inner 60 %. */
export function dominantColour(frame: RgbFrame, box: Box, inner = 0.6): ColourName | undefined {
  const W = frame.width, H = frame.height;
  const mx = (box.w * (1 - inner)) / 2, my = (box.h * (1 - inner)) / 2;
  const x0 = Math.max(0, Math.floor((box.x + mx) * W)), x1 = Math.min(W, Math.ceil((box.x + box.w - mx) * W));
  const y0 = Math.max(0, Math.floor((box.y + my) * H)), y1 = Math.min(H, Math.ceil((box.y + box.h - my) * H));
  if (x1 <= x0 || y1 <= y0) return undefined;
  const step = Math.max(1, Math.floor(Math.sqrt(((x1 - x0) * (y1 - y0)) / 1000)));
  const hist = new Map<ColourName, number>();
  const d = frame.data;
  for (let y = y0; y < y1; y += step) {
    for (let x = x0; x < x1; x += step) {
      const p = (y * W + x) * 3;
      const c = colourOf(d[p], d[p + 1], d[p + 2]);
      hist.set(c, (hist.get(c) ?? 0) + 1);
    }
  }
  let best: ColourName | undefined, n = 0;
  for (const [c, k] of hist) if (k > n) { best = c; n = k; }
  return best;
}

const COMPASS = ['east', 'north_east', 'north', 'north_west', 'west', 'south_west', 'south', 'south_east'];

/** Compass word of a displacement in image coordinates (north = up). */
export function directionWord(dx: number, dy: number, still = 0.03): string {
  if (Math.hypot(dx, dy) < still) return 'stationary';
  const deg = (Math.atan2(-dy, dx) * 180) / Math.PI;
  return COMPASS[((Math.round(deg / 45) % 8) + 8) % 8];
}

export interface Structuring {
  /** Every frame, after the tracker: samples the colour of tracks whose score improved. */
  observe(frame: RgbFrame, tracks: TrackState[]): void;
  /** The `video.track` event of an ended track. */
  summarize(t: TrackState, extra: { zones: string[]; lines: { line: string; direction: string }[] }): AnalyticEvent;
}

export function createStructuring(): Structuring {
  const info = new Map<number, { firstTs: number; lastTs: number; colourScore: number; colour?: ColourName }>();
  return {
    observe(frame, tracks) {
      for (const t of tracks) {
        let i = info.get(t.id);
        if (!i) info.set(t.id, (i = { firstTs: frame.ts - (frame.mono - t.firstMono), lastTs: frame.ts, colourScore: -1 }));
        if (!t.seen) continue;
        i.lastTs = frame.ts;
        if (t.score > i.colourScore) {
          i.colourScore = t.score;
          i.colour = dominantColour(frame, t.box);
        }
      }
    },
    summarize(t, extra) {
      const i = info.get(t.id);
      info.delete(t.id);
      const p = t.path;
      const a = p[0], z = p[p.length - 1];
      let dist = 0, x0 = a.x, y0 = a.y, x1 = a.x, y1 = a.y;
      for (let k = 1; k < p.length; k++) {
        dist += distance([p[k - 1].x, p[k - 1].y], [p[k].x, p[k].y]);
        x0 = Math.min(x0, p[k].x); y0 = Math.min(y0, p[k].y);
        x1 = Math.max(x1, p[k].x); y1 = Math.max(y1, p[k].y);
      }
      const seconds = (t.lastMono - t.firstMono) / 1000;
      return {
        type: 'video.track', severity: 'info',
        data: {
          track: t.id, label: t.label,
          firstSeen: i?.firstTs, lastSeen: i?.lastTs, seconds: round(seconds, 3),
          path: {
            start: { x: round(a.x), y: round(a.y) }, end: { x: round(z.x), y: round(z.y) },
            bbox: roundBox({ x: x0, y: y0, w: x1 - x0, h: y1 - y0 }),
            distance: round(dist), meanSpeed: seconds > 0 ? round(dist / seconds) : 0,
            direction: directionWord(z.x - a.x, z.y - a.y), points: p.length,
          },
          zones: extra.zones, lines: extra.lines,
          bestScore: round(t.bestScore), box: roundBox(t.bestBox),
          ...(i?.colour && { colour: i.colour }),
        },
        evidence: { boxes: [{ label: t.label, classId: -1, score: t.bestScore, box: t.bestBox }] },
      };
    },
  };
}
