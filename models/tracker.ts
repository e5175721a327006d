// Multi-object tracker of the video analytics: IoU first, then centroid distance (small fast
// objects whose boxes no longer overlap from one frame to the next), greedy, per class. Track
// ids are integers from 1, stable for the tracker's life. A track ends when unseen for
// `timeoutSeconds` (by frame.mono). Each track keeps a bounded path of centroids (at most
// `maxPath` points: when full, every other point is dropped, the first and last kept).
//
// Only tracks that could have been seen are matched: when the detector ran on regions, a
// track outside all of them is neither matched nor missed (it just waits for the next full
// frame, which the pipeline runs at least every motion.fullFrameEverySeconds).
import { centroid, distance, intersection, iou } from './geometry.ts';
import type { Box, Detection, Track } from './types.ts';

export interface TrackerOptions {
  timeoutSeconds: number;
  /** Minimum IoU (against the velocity-predicted box) for a match (default 0.2). */
  minIou?: number;
  /** Centroid matches: at most this many box sizes (the larger side) apart (default 1.5). */
  maxDistanceBoxes?: number;
  /** Path points per track (default 64). */
  maxPath?: number;
}

/** A live track: the contract's Track plus what the analytics need. Do not mutate. */
export interface TrackState extends Track {
  /** Detection count. */
  hits: number;
  /** Whether the track was matched (seen) on the latest update. */
  seen: boolean;
  /** Velocity of the centroid, normalized units per second (from the last two path points). */
  vx: number;
  vy: number;
  bestScore: number;
  bestBox: Box;
  bestMono: number;
  /** The detection that updated it on the latest update, when seen. */
  detection?: Detection;
}

/** What the analytics see of one frame (pipeline → zones, lines, crossing, structuring). */
export interface TrackFrame {
  mono: number;
  /** Wall-clock ms of the frame. */
  ts: number;
  /** Live tracks (including those briefly missed). */
  tracks: TrackState[];
  /** Tracks that ended on this frame. */
  ended: TrackState[];
}

export interface TrackerUpdate {
  /** Live tracks after the update (new ones included). */
  tracks: TrackState[];
  started: TrackState[];
  ended: TrackState[];
}

export interface Tracker {
  /**
   * One frame's detections at `mono` ms. `regions`: where the detector looked (undefined =
   * whole frame). Returns live, new and ended tracks.
   */
  update(detections: Detection[], mono: number, regions?: Box[]): TrackerUpdate;
  /** Ends every live track (close of the pipeline); returns them. */
  endAll(): TrackState[];
  live(): TrackState[];
}

export function createTracker(opts: TrackerOptions): Tracker {
  const timeoutMs = opts.timeoutSeconds * 1000;
  const minIou = opts.minIou ?? 0.2;
  const maxDistanceBoxes = opts.maxDistanceBoxes ?? 1.5;
  const maxPath = Math.max(4, opts.maxPath ?? 64);
  let nextId = 1;
  let tracks: TrackState[] = [];

  const predicted = (t: TrackState, mono: number): Box => {
    const dt = (mono - t.lastMono) / 1000;
    return { x: t.box.x + t.vx * dt, y: t.box.y + t.vy * dt, w: t.box.w, h: t.box.h };
  };

  const observable = (t: TrackState, regions: Box[] | undefined): boolean => {
    if (!regions) return true;
    const a = t.box.w * t.box.h;
    for (const r of regions) if (intersection(t.box, r) >= 0.5 * a) return true;
    return false;
  };

  const apply = (t: TrackState, d: Detection, mono: number): void => {
    const [cx, cy] = centroid(d.box);
    const last = t.path[t.path.length - 1];
    const dt = (mono - last.mono) / 1000;
    if (dt > 0) {
      t.vx = (cx - last.x) / dt;
      t.vy = (cy - last.y) / dt;
    }
    t.box = { ...d.box };
    t.score = d.score;
    t.lastMono = mono;
    t.hits++;
    t.seen = true;
    t.detection = d;
    if (d.score > t.bestScore) {
      t.bestScore = d.score;
      t.bestBox = { ...d.box };
      t.bestMono = mono;
    }
    if (dt > 0) {
      t.path.push({ mono, x: cx, y: cy });
      if (t.path.length > maxPath) {
        const kept = t.path.filter((_, i) => i % 2 === 0 || i === t.path.length - 1);
        t.path.length = 0;
        t.path.push(...kept);
      }
    } else {
      last.x = cx;
      last.y = cy;
    }
  };

  return {
    update(detections, mono, regions) {
      for (const t of tracks) {
        t.seen = false;
        t.detection = undefined;
      }
      const usedDet = new Uint8Array(detections.length);
      const usedTrack = new Set<TrackState>();
      const candidates = tracks.filter((t) => observable(t, regions));

      // 1. IoU against the predicted box, per class, greedy best first.
      const pairs: { t: TrackState; d: number; v: number }[] = [];
      for (const t of candidates) {
        const p = predicted(t, mono);
        for (let i = 0; i < detections.length; i++) {
          if (detections[i].label !== t.label) continue;
          const v = Math.max(iou(p, detections[i].box), iou(t.box, detections[i].box));
          if (v >= minIou) pairs.push({ t, d: i, v });
        }
      }
      pairs.sort((a, b) => b.v - a.v);
      for (const { t, d } of pairs) {
        if (usedDet[d] || usedTrack.has(t)) continue;
        usedDet[d] = 1;
        usedTrack.add(t);
        apply(t, detections[d], mono);
      }

      // 2. Centroid distance for what is left (small, fast objects), nearest first.
      const near: { t: TrackState; d: number; v: number }[] = [];
      for (const t of candidates) {
        if (usedTrack.has(t)) continue;
        const pc = centroid(predicted(t, mono));
        for (let i = 0; i < detections.length; i++) {
          if (usedDet[i] || detections[i].label !== t.label) continue;
          const b = detections[i].box;
          const size = Math.max(t.box.w, t.box.h, b.w, b.h);
          const v = distance(pc, centroid(b));
          if (v <= maxDistanceBoxes * size) near.push({ t, d: i, v });
        }
      }
      near.sort((a, b) => a.v - b.v);
      for (const { t, d } of near) {
        if (usedDet[d] || usedTrack.has(t)) continue;
        usedDet[d] = 1;
        usedTrack.add(t);
        apply(t, detections[d], mono);
      }

      // 3. New tracks for unmatched detections.
      const started: TrackState[] = [];
      for (let i = 0; i < detections.length; i++) {
        if (usedDet[i]) continue;
        const d = detections[i];
        const [cx, cy] = centroid(d.box);
        const t: TrackState = {
          id: nextId++, label: d.label, box: { ...d.box }, score: d.score, firstMono: mono, lastMono: mono,
          path: [{ mono, x: cx, y: cy }], hits: 1, seen: true, vx: 0, vy: 0,
          bestScore: d.score, bestBox: { ...d.box }, bestMono: mono, detection: d,
        };
        started.push(t);
      }

      // 4. End the tracks unseen for longer than the timeout.
      const ended: TrackState[] = [];
      const alive: TrackState[] = [];
      for (const t of tracks) (mono - t.lastMono > timeoutMs ? ended : alive).push(t);
      tracks = alive.concat(started);
      return { tracks, started, ended };
    },
    endAll() {
      const all = tracks;
      tracks = [];
      return all;
    },
    live: () => tracks,
  };
}
