// Counting lines of one camera: a track crosses a line when the segment between two of its
// consecutive centroids intersects the line's segment from→to, with the centroid strictly on
// the other side (cross product sign) than the last centroid that was not on the line (so a
// track stopping ON the line and going back is no crossing, and one touching it and going on
// is exactly one).
//
// Direction: side A is to the LEFT of from→to as seen on the image (x right, y down: a line
// from (0,0.5) to (1,0.5) has side A above it), side B to the right. A crossing A→B is named
// `directions[0]` (default `a_to_b`), B→A `directions[1]` (default `b_to_a`).
//
// Events: one `video.line_cross` per crossing (data: line, direction, track, label, score,
// point). Readings: `line.<line>.<direction>` cumulative count since the pipeline started, both
// directions from 0.
import { cross, round, segmentIntersection } from '../geometry.ts';
import type { TrackFrame, TrackState } from '../tracker.ts';
import type { AnalyticEvent, AnalyticReading, LineConfig, Point2 } from '../types.ts';

export interface Lines {
  update(f: TrackFrame): AnalyticEvent[];
  readings(): AnalyticReading[];
  /** Crossings of a track so far (structuring). */
  crossed(trackId: number): { line: string; direction: string }[];
  forget(trackId: number): void;
}

export function lineDirections(l: LineConfig): [string, string] {
  return l.directions ?? ['a_to_b', 'b_to_a'];
}

export function createLines(lines: LineConfig[]): Lines {
  const counts = lines.map(() => [0, 0]);
  /** Per line: track id → last centroid not on the line, and its side (−1 = A, +1 = B). */
  const last = lines.map(() => new Map<number, { p: Point2; side: number }>());
  const crossings = new Map<number, { line: string; direction: string }[]>();

  return {
    update(f) {
      const events: AnalyticEvent[] = [];
      for (let li = 0; li < lines.length; li++) {
        const line = lines[li];
        const memory = last[li];
        const names = lineDirections(line);
        for (const t of f.tracks) {
          if (!t.seen || (line.classes && !line.classes.includes(t.label))) continue;
          const pt = t.path[t.path.length - 1];
          const p: Point2 = [pt.x, pt.y];
          const c = cross(line.from, line.to, p);
          if (c === 0) continue;
          const side = c < 0 ? -1 : 1;
          const prev = memory.get(t.id);
          memory.set(t.id, { p, side });
          if (!prev || prev.side === side) continue;
          const at = segmentIntersection(prev.p, p, line.from, line.to);
          if (!at) continue;
          const dir = side > 0 ? 0 : 1;
          counts[li][dir]++;
          const direction = names[dir];
          let list = crossings.get(t.id);
          if (!list) crossings.set(t.id, (list = []));
          list.push({ line: line.name, direction });
          events.push(crossEvent(line.name, direction, t, at));
        }
        for (const t of f.ended) memory.delete(t.id);
      }
      return events;
    },
    readings() {
      const out: AnalyticReading[] = [];
      for (let li = 0; li < lines.length; li++) {
        const names = lineDirections(lines[li]);
        out.push({ point: `line.${lines[li].name}.${names[0]}`, value: counts[li][0] });
        out.push({ point: `line.${lines[li].name}.${names[1]}`, value: counts[li][1] });
      }
      return out;
    },
    crossed: (id) => crossings.get(id) ?? [],
    forget: (id) => void crossings.delete(id),
  };
}

function crossEvent(line: string, direction: string, t: TrackState, at: Point2): AnalyticEvent {
  return {
    type: 'video.line_cross', severity: 'info',
    data: { line, direction, track: t.id, label: t.label, score: round(t.score), point: { x: round(at[0]), y: round(at[1]) } },
    evidence: { boxes: [{ label: t.label, classId: -1, score: t.score, box: t.box }] },
  };
}
