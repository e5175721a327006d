// Zones of one camera: which tracks are inside which polygon, enter/exit events, dwell alarms
// and the occupancy counts.
//
// A track is inside a zone when the BOTTOM-CENTRE of its box is: under a pole camera looking
// down at an angle that is where a person's feet or a vehicle's wheels touch the ground, and
// zones are drawn on the ground (a crossing, a bay, a kerb). The box centre would put a person
// standing just in front of a zone inside it. Tracks briefly missed by the detector stay where
// they were last seen until the tracker ends them, so a miss does not make an exit/enter pair.
//
// Events: `video.zone_enter` / `video.zone_exit` (data: zone, track, label, score, box; exits
// also `reason`: 'left' or 'lost' when the track ended inside). `video.dwell` raise when a track
// has stayed `dwellSeconds` in the zone (once per track and zone), cleared when it leaves.
// Readings: `zone.<zone>.<class>` = tracks of that class inside (the zone's `classes`, or every
// class seen in it so far, so a zone that empties reports 0). The pipeline rate-limits them.
import { bottomCentre, pointInPolygon, round, roundBox } from '../geometry.ts';
import type { TrackFrame, TrackState } from '../tracker.ts';
import type { AnalyticEvent, AnalyticReading, ZoneConfig } from '../types.ts';

interface Stay {
  enterMono: number;
  dwellRaised: boolean;
}

export interface Zones {
  update(f: TrackFrame): AnalyticEvent[];
  /** Current occupancy per zone and class. */
  readings(): AnalyticReading[];
  /** Zone names a track has been in so far (structuring). */
  visited(trackId: number): string[];
  /** Forget a track's visits (after its `video.track` event). */
  forget(trackId: number): void;
}

const base = (zone: string, t: TrackState) => ({
  zone, track: t.id, label: t.label, score: round(t.score), box: roundBox(t.box),
});

export function createZones(zones: ZoneConfig[]): Zones {
  const stays = zones.map(() => new Map<number, Stay>());
  const counts = zones.map(() => new Map<string, number>());
  const visits = new Map<number, Set<string>>();
  for (let z = 0; z < zones.length; z++) for (const c of zones[z].classes ?? []) counts[z].set(c, 0);

  const evidence = (t: TrackState) => ({ boxes: [{ label: t.label, classId: -1, score: t.score, box: t.box }] });

  return {
    update(f) {
      const events: AnalyticEvent[] = [];
      for (let z = 0; z < zones.length; z++) {
        const zone = zones[z];
        const inside = stays[z];
        const count = counts[z];
        for (const k of count.keys()) count.set(k, 0);
        const exit = (t: TrackState, stay: Stay, reason: 'left' | 'lost'): void => {
          inside.delete(t.id);
          events.push({ type: 'video.zone_exit', severity: 'info', data: { ...base(zone.name, t), reason, seconds: round((f.mono - stay.enterMono) / 1000, 1) } });
          if (stay.dwellRaised) {
            events.push({ type: 'video.dwell', severity: 'warning', state: 'clear', data: { ...base(zone.name, t), seconds: round((t.lastMono - stay.enterMono) / 1000, 1) } });
          }
        };
        for (const t of f.tracks) {
          if (zone.classes && !zone.classes.includes(t.label)) continue;
          const now = pointInPolygon(bottomCentre(t.box), zone.polygon);
          let stay = inside.get(t.id);
          if (now) {
            count.set(t.label, (count.get(t.label) ?? 0) + 1);
            if (!stay) {
              stay = { enterMono: t.seen ? f.mono : t.lastMono, dwellRaised: false };
              inside.set(t.id, stay);
              let v = visits.get(t.id);
              if (!v) visits.set(t.id, (v = new Set()));
              v.add(zone.name);
              events.push({ type: 'video.zone_enter', severity: 'info', data: base(zone.name, t), evidence: evidence(t) });
            }
            if (zone.dwellSeconds !== undefined && !stay.dwellRaised && t.lastMono - stay.enterMono >= zone.dwellSeconds * 1000) {
              stay.dwellRaised = true;
              events.push({
                type: 'video.dwell', severity: 'warning', state: 'raise',
                data: { ...base(zone.name, t), seconds: round((t.lastMono - stay.enterMono) / 1000, 1), dwellSeconds: zone.dwellSeconds },
                evidence: evidence(t),
              });
            }
          } else if (stay) {
            exit(t, stay, 'left');
          }
        }
        for (const t of f.ended) {
          const stay = inside.get(t.id);
          if (stay) exit(t, stay, 'lost');
        }
      }
      return events;
    },
    readings() {
      const out: AnalyticReading[] = [];
      for (let z = 0; z < zones.length; z++) {
        for (const [label, n] of counts[z]) out.push({ point: `zone.${zones[z].name}.${label}`, value: n });
      }
      return out;
    },
    visited: (id) => [...(visits.get(id) ?? [])],
    forget: (id) => void visits.delete(id),
  };
}
