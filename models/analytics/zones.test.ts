// Zones: bottom-centre membership, enter/exit per track, occupancy counts, dwell raise/clear.
import { describe, expect, test } from 'vitest';
import type { TrackState } from '../tracker.ts';
import type { Box, ZoneConfig } from '../types.ts';
import { createZones } from './zones.ts';

function track(id: number, label: string, box: Box, mono: number, seen = true): TrackState {
  return {
    id, label, box, score: 0.8, firstMono: 0, lastMono: mono, path: [{ mono, x: box.x + box.w / 2, y: box.y + box.h / 2 }],
    hits: 1, seen, vx: 0, vy: 0, bestScore: 0.8, bestBox: box, bestMono: mono,
  };
}
const bay: ZoneConfig = { name: 'bay', polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]], dwellSeconds: 3 };
const frame = (mono: number, tracks: TrackState[], ended: TrackState[] = []) => ({ mono, ts: 1e12 + mono, tracks, ended });

describe('zones', () => {
  test('membership is by the bottom-centre of the box', () => {
    const z = createZones([bay]);
    // Centre (0.6, 0.4) is above the zone, bottom-centre (0.6, 0.55) inside it.
    const ev = z.update(frame(0, [track(1, 'person', { x: 0.55, y: 0.25, w: 0.1, h: 0.3 }, 0)]));
    expect(ev.map((e) => [e.type, e.data.zone, e.data.track])).toEqual([['video.zone_enter', 'bay', 1]]);
    // Bottom-centre (0.6, 0.45) outside although the box overlaps the zone.
    const z2 = createZones([bay]);
    expect(z2.update(frame(0, [track(1, 'person', { x: 0.55, y: 0.25, w: 0.1, h: 0.2 }, 0)]))).toEqual([]);
  });

  test('enter, counts per class, exit; a lost track exits with reason lost', () => {
    const z = createZones([bay]);
    const inBox = { x: 0.6, y: 0.6, w: 0.1, h: 0.1 };
    const out = { x: 0.1, y: 0.1, w: 0.1, h: 0.1 };
    z.update(frame(0, [track(1, 'person', inBox, 0), track(2, 'person', inBox, 0), track(3, 'car', inBox, 0), track(4, 'dog', out, 0)]));
    expect(z.readings()).toEqual([
      { point: 'zone.bay.person', value: 2 }, { point: 'zone.bay.car', value: 1 },
    ]);
    const ev = z.update(frame(200, [track(1, 'person', out, 200), track(3, 'car', inBox, 200)], [track(2, 'person', inBox, 0, false)]));
    expect(ev.map((e) => [e.type, e.data.track, e.data.reason])).toEqual([
      ['video.zone_exit', 1, 'left'], ['video.zone_exit', 2, 'lost'],
    ]);
    expect(z.readings()).toEqual([{ point: 'zone.bay.person', value: 0 }, { point: 'zone.bay.car', value: 1 }]);
    expect(z.visited(1)).toEqual(['bay']);
    expect(z.visited(4)).toEqual([]);
  });

  test('zone classes filter and always report their classes', () => {
    const z = createZones([{ ...bay, classes: ['car', 'truck'] }]);
    const ev = z.update(frame(0, [track(1, 'person', { x: 0.6, y: 0.6, w: 0.1, h: 0.1 }, 0)]));
    expect(ev).toEqual([]);
    expect(z.readings()).toEqual([{ point: 'zone.bay.car', value: 0 }, { point: 'zone.bay.truck', value: 0 }]);
  });

  test('dwell: one raise per track after dwellSeconds, cleared when it leaves', () => {
    const z = createZones([bay]);
    const inBox = { x: 0.6, y: 0.6, w: 0.1, h: 0.1 };
    const types: string[] = [];
    for (let mono = 0; mono <= 5000; mono += 200) {
      for (const e of z.update(frame(mono, [track(7, 'person', inBox, mono)]))) types.push(`${mono}:${e.type}:${e.state ?? ''}`);
    }
    expect(types).toEqual(['0:video.zone_enter:', '3000:video.dwell:raise']);
    const ev = z.update(frame(5200, [track(7, 'person', { x: 0.1, y: 0.1, w: 0.1, h: 0.1 }, 5200)]));
    expect(ev.map((e) => [e.type, e.state, e.data.seconds])).toEqual([['video.zone_exit', undefined, 5.2], ['video.dwell', 'clear', 5.2]]);
  });

  test('a briefly missed track stays inside (no exit/enter pair)', () => {
    const z = createZones([bay]);
    const inBox = { x: 0.6, y: 0.6, w: 0.1, h: 0.1 };
    z.update(frame(0, [track(1, 'car', inBox, 0)]));
    expect(z.update(frame(200, [track(1, 'car', inBox, 0, false)]))).toEqual([]);
    expect(z.update(frame(400, [track(1, 'car', inBox, 400)]))).toEqual([]);
  });
});
