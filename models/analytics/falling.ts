// Falling objects from motion alone (no model): the blobs of the motion stage whose centroid is
// inside the facade region are linked frame to frame into short blob tracks (nearest to the
// position predicted from the track's velocity, generous downwards). A blob track is a fall
// when, over the whole track:
//   - it has at least MIN_POINTS points and dropped at least minDrop of the image height,
//     more than it moved sideways, with most steps going down;
//   - a least-squares fit y(t) = a + b·t + c·t² has positive acceleration 2c, and the speed it
//     gained over the track (2c·T) is at least half its mean speed;
//   - the per-frame drop grows: the mean speed of each third of the track exceeds the previous
//     third's by ACCEL_RATIO (free fall from rest gives 1 : 3 : 5).
// So a person walking (no drop), a lift or a box descending at constant speed (no gain), or a
// lift that accelerated then cruised (the last thirds are equal) are not falls.
// One `video.fall` event per blob track (severity critical): data track, region, path
// [{t (s from start), x, y}], start/end {x, y, ts}, drop (image heights), meanSpeed (heights/s),
// acceleration (heights/s²), seconds.
import { pointInPolygon, round, roundBox } from '../geometry.ts';
import type { MotionResult } from '../motion.ts';
import type { AnalyticEvent, Box, FallingConfig } from '../types.ts';

export const MIN_POINTS = 4;
export const ACCEL_RATIO = 1.15;
/** A blob track ends when no blob continued it for this long. */
export const LOST_MS = 500;
const MAX_POINTS = 64;

interface BlobPoint { mono: number; ts: number; x: number; y: number; box: Box }
interface BlobTrack { id: number; points: BlobPoint[]; vx: number; vy: number; reported: boolean }

export interface Falling {
  update(motion: MotionResult, frame: { mono: number; ts: number }): AnalyticEvent[];
  /** Live blob tracks (tests, debugging). */
  tracks(): readonly { id: number; points: readonly { mono: number; x: number; y: number }[] }[];
}

export interface FallVerdict {
  fall: boolean;
  drop: number;
  meanSpeed: number;
  acceleration: number;
  reason?: string;
}

/** The fall test on a path (t in seconds, y down, normalized). Exported for unit tests. */
export function judgeFall(path: { t: number; x: number; y: number }[], minDrop: number): FallVerdict {
  const n = path.length;
  const first = path[0], last = path[n - 1];
  const T = n > 1 ? last.t - first.t : 0;
  const drop = n ? last.y - first.y : 0;
  const meanSpeed = T > 0 ? drop / T : 0;
  const v = { drop, meanSpeed, acceleration: 0 };
  if (n < MIN_POINTS || T <= 0) return { ...v, fall: false, reason: 'too short' };
  if (drop < minDrop) return { ...v, fall: false, reason: 'drop below minDrop' };
  if (drop <= Math.abs(last.x - first.x)) return { ...v, fall: false, reason: 'more sideways than down' };
  let down = 0;
  for (let i = 1; i < n; i++) if (path[i].y > path[i - 1].y) down++;
  if (down < 0.75 * (n - 1)) return { ...v, fall: false, reason: 'not going down' };
  const c = quadraticCoefficient(path.map((p) => p.t - first.t), path.map((p) => p.y));
  v.acceleration = 2 * c;
  if (!(c > 0) || 2 * c * T < 0.5 * meanSpeed) return { ...v, fall: false, reason: 'no acceleration' };
  const thirds = [0, 1, 2].map((k) => {
    const t0 = first.t + (k * T) / 3, t1 = first.t + ((k + 1) * T) / 3;
    // Mean speed over the third: position interpolated at its ends.
    return (yAt(path, t1) - yAt(path, t0)) / (t1 - t0);
  });
  if (!(thirds[1] > thirds[0] * ACCEL_RATIO && thirds[2] > thirds[1] * ACCEL_RATIO) || thirds[1] <= 0) {
    return { ...v, fall: false, reason: 'per-frame drop not growing' };
  }
  return { ...v, fall: true };
}

function yAt(path: { t: number; y: number }[], t: number): number {
  for (let i = 1; i < path.length; i++) {
    if (path[i].t >= t) {
      const a = path[i - 1], b = path[i];
      return b.t === a.t ? b.y : a.y + ((b.y - a.y) * (t - a.t)) / (b.t - a.t);
    }
  }
  return path[path.length - 1].y;
}

/** c of the least-squares fit y = a + b t + c t² (normal equations, Cramer's rule). */
export function quadraticCoefficient(ts: number[], ys: number[]): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, y0 = 0, y1 = 0, y2 = 0;
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i], t2 = t * t, y = ys[i];
    s0++; s1 += t; s2 += t2; s3 += t2 * t; s4 += t2 * t2;
    y0 += y; y1 += y * t; y2 += y * t2;
  }
  const det = (a: number, b: number, c: number, d: number, e: number, f: number, g: number, h: number, i: number) =>
    a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  const D = det(s0, s1, s2, s1, s2, s3, s2, s3, s4);
  if (Math.abs(D) < 1e-12) return 0;
  return det(s0, s1, y0, s1, s2, y1, s2, s3, y2) / D;
}

export function createFalling(cfg: FallingConfig): Falling {
  const minDrop = cfg.minDrop ?? 0.15;
  let live: BlobTrack[] = [];
  let nextId = 1;

  return {
    update(motion, frame) {
      const events: AnalyticEvent[] = [];
      const blobs = motion.reset ? [] : motion.blobs.filter((b) => pointInPolygon([b.cx, b.cy], cfg.region));
      const used = new Uint8Array(blobs.length);
      const pairs: { t: BlobTrack; b: number; cost: number }[] = [];
      for (const t of live) {
        const p = t.points[t.points.length - 1];
        const dt = (frame.mono - p.mono) / 1000;
        const px = p.x + t.vx * dt, py = p.y + t.vy * dt;
        for (let i = 0; i < blobs.length; i++) {
          const b = blobs[i];
          const dx = Math.abs(b.cx - px), dy = b.cy - py;
          const gx = 0.04 + p.box.w;
          // Objects speed up downwards: allow more below the prediction than above it.
          const gDown = 0.06 + p.box.h + Math.abs(t.vy) * dt, gUp = 0.03 + p.box.h / 2;
          if (dx > gx || dy > gDown || -dy > gUp) continue;
          pairs.push({ t, b: i, cost: Math.hypot(dx, dy) });
        }
      }
      pairs.sort((a, b) => a.cost - b.cost);
      const matched = new Set<BlobTrack>();
      for (const { t, b, cost: _ } of pairs) {
        if (used[b] || matched.has(t)) continue;
        used[b] = 1;
        matched.add(t);
        const blob = blobs[b];
        const p = t.points[t.points.length - 1];
        const dt = (frame.mono - p.mono) / 1000;
        if (dt > 0) {
          t.vx = (blob.cx - p.x) / dt;
          t.vy = (blob.cy - p.y) / dt;
        }
        t.points.push({ mono: frame.mono, ts: frame.ts, x: blob.cx, y: blob.cy, box: { ...blob.box } });
        if (t.points.length > MAX_POINTS) t.points.shift();
      }
      for (let i = 0; i < blobs.length; i++) {
        if (used[i]) continue;
        const b = blobs[i];
        live.push({ id: nextId++, points: [{ mono: frame.mono, ts: frame.ts, x: b.cx, y: b.cy, box: { ...b.box } }], vx: 0, vy: 0, reported: false });
      }
      for (const t of live) {
        if (t.reported || !matched.has(t) || t.points.length < MIN_POINTS) continue;
        const t0 = t.points[0].mono;
        const path = t.points.map((p) => ({ t: (p.mono - t0) / 1000, x: p.x, y: p.y }));
        const v = judgeFall(path, minDrop);
        if (!v.fall) continue;
        t.reported = true;
        const a = t.points[0], z = t.points[t.points.length - 1];
        events.push({
          type: 'video.fall', severity: 'critical',
          data: {
            track: t.id, region: cfg.region,
            path: path.map((p) => ({ t: round(p.t, 3), x: round(p.x), y: round(p.y) })),
            start: { x: round(a.x), y: round(a.y), ts: a.ts }, end: { x: round(z.x), y: round(z.y), ts: z.ts },
            drop: round(v.drop), meanSpeed: round(v.meanSpeed), acceleration: round(v.acceleration),
            seconds: round((z.mono - a.mono) / 1000, 3),
          },
          evidence: { boxes: [{ label: 'falling_object', classId: -1, score: 1, box: roundBox(z.box) }] },
        });
      }
      live = live.filter((t) => frame.mono - t.points[t.points.length - 1].mono <= LOST_MS);
      return events;
    },
    tracks: () => live.map((t) => ({ id: t.id, points: t.points })),
  };
}
