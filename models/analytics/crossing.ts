// Pedestrian-crossing warning: a pedestrian track (bottom-centre, as zones.ts) inside the
// crossing zone — and, when `approachZone` is set, a vehicle track inside the approach at the
// same time — raises `video.crossing_warning` (severity warning). It clears once no pedestrian
// has been on the crossing for GRACE_MS (a missed detection or a step over the edge does not
// make a clear/raise pair). Raise and clear always come as a pair; a new raise comes at the
// earliest holdSeconds (default 5) after the previous one (still-present pedestrians raise
// again once the hold has passed). close() clears a raised warning.
import { bottomCentre, pointInPolygon } from '../geometry.ts';
import type { TrackFrame, TrackState } from '../tracker.ts';
import type { AnalyticEvent, CrossingWarningConfig, Point2, ZoneConfig } from '../types.ts';

export const GRACE_MS = 1000;
export const DEFAULT_VEHICLES = ['car', 'truck', 'bus', 'motorcycle', 'bicycle'];

export interface CrossingWarning {
  update(f: TrackFrame): AnalyticEvent[];
  close(): AnalyticEvent[];
}

export function createCrossingWarning(cfg: CrossingWarningConfig, zones: ZoneConfig[]): CrossingWarning {
  const find = (name: string, what: string): Point2[] => {
    const z = zones.find((zz) => zz.name === name);
    if (!z) throw new Error(`crossing: ${what} "${name}" is not one of the camera's zones (${zones.map((zz) => zz.name).join(', ') || 'none'})`);
    return z.polygon;
  };
  const crossingPoly = find(cfg.zone, 'zone');
  const approachPoly = cfg.approachZone !== undefined ? find(cfg.approachZone, 'approachZone') : undefined;
  const pedestrians = cfg.pedestrians ?? ['person'];
  const vehicles = cfg.vehicles ?? DEFAULT_VEHICLES;
  const holdMs = (cfg.holdSeconds ?? 5) * 1000;

  let raised = false;
  let lastRaise = -Infinity;
  let lastPedestrian = -Infinity;

  const inside = (t: TrackState, poly: Point2[]) => pointInPolygon(bottomCentre(t.box), poly);
  const data = (peds: TrackState[], vehs: TrackState[]) => ({
    zone: cfg.zone, ...(cfg.approachZone !== undefined && { approachZone: cfg.approachZone }),
    pedestrians: peds.length, vehicles: vehs.length, tracks: [...peds, ...vehs].map((t) => t.id),
  });

  return {
    update(f) {
      const peds = f.tracks.filter((t) => pedestrians.includes(t.label) && inside(t, crossingPoly));
      const vehs = approachPoly ? f.tracks.filter((t) => vehicles.includes(t.label) && inside(t, approachPoly)) : [];
      if (peds.length) lastPedestrian = f.mono;
      if (!raised) {
        const active = peds.length > 0 && (!approachPoly || vehs.length > 0);
        if (!active || f.mono - lastRaise < holdMs) return [];
        raised = true;
        lastRaise = f.mono;
        return [{
          type: 'video.crossing_warning', severity: 'warning', state: 'raise', data: data(peds, vehs),
          evidence: { boxes: [...peds, ...vehs].map((t) => ({ label: t.label, classId: -1, score: t.score, box: t.box })) },
        }];
      }
      if (peds.length || f.mono - lastPedestrian < GRACE_MS) return [];
      raised = false;
      return [{ type: 'video.crossing_warning', severity: 'warning', state: 'clear', data: data(peds, vehs) }];
    },
    close() {
      if (!raised) return [];
      raised = false;
      return [{ type: 'video.crossing_warning', severity: 'warning', state: 'clear', data: { zone: cfg.zone, reason: 'closed' } }];
    },
  };
}
