// One camera's video analytics: motion stage → detector (only where it moved) → tracker →
// zones, lines, crossing warning, structuring, plates; falling objects from the motion stage
// alone. The camera driver calls process() for each frame it keeps (latest frame wins) and
// turns FrameResult.events/readings into bus events and readings.
//
// Inference gating (what makes it affordable on a CPU):
//   - motion boxes (above motion.minArea) → the detector runs on regions around them: each box
//     grown to the model's aspect (square: YOLO inputs are) with at least a third of the
//     image's shorter side, overlapping regions merged; more than MAX_REGIONS regions, or
//     regions covering most of the image, → the whole frame;
//   - while tracks are alive, the whole frame at least every motion.fullFrameEverySeconds
//     (tracks of still objects outside the motion regions are refreshed there, not missed);
//   - a static scene with no live track: no inference at all.
// Without a detector only the motion stage and falling objects run. One motion stage serves
// both; its pixel threshold is falling.threshold when set, else motion.threshold.
//
// Readings, each point at most once per second (on the first frame a second after the last
// emission, all points together; a change is thus reported within a second, a steady value
// once a second; exact transitions are in the events): `fps` (frames processed per second),
// `motion` (largest changed fraction of the small image over the frames since the last emission), and with a
// detector `zone.<zone>.<class>` and `line.<line>.<direction>` (see analytics/zones.ts, lines.ts).
//
// Plates (cfg.plates and a TextReader): `region`: the region is read at most once a second
// while motion touches it, a text is not repeated within PLATE_REPEAT_MS; `vehicles`: the box
// of each seen vehicle track is read at most once a second per track, each text once per
// track. Events `video.plate` (data text, confidence, box, and track/label for vehicles).
//
// Detector and text-reader errors never leave process(): the frame is reported with no
// detections (tracks neither matched nor missed) and a warning is logged (at most once a
// minute, with the count of failures in between).
import type { Log } from '../runtime/types.ts';
import { createCrossingWarning, type CrossingWarning } from './analytics/crossing.ts';
import { createFalling, type Falling } from './analytics/falling.ts';
import { createLines, type Lines } from './analytics/lines.ts';
import { createStructuring } from './analytics/structuring.ts';
import { createZones, type Zones } from './analytics/zones.ts';
import { intersection, round, roundBox, toAspect, union } from './geometry.ts';
import { createMotion } from './motion.ts';
import { createTracker, type TrackFrame, type TrackState } from './tracker.ts';
import type {
  AnalyticEvent, AnalyticReading, Box, CameraAnalyticsConfig, Detection, Detector, FrameResult, Pipeline, RgbFrame, TextReader, Track,
} from './types.ts';

export const MAX_REGIONS = 4;
/** Regions covering more than this fraction of the image → whole frame instead. */
export const FULL_FRAME_AREA = 0.6;
export const PLATE_REPEAT_MS = 10_000;
export const DEFAULT_PLATE_VEHICLES = ['car', 'truck', 'bus', 'motorcycle'];
const WHOLE: Box = { x: 0, y: 0, w: 1, h: 1 };

export interface PipelineDeps {
  detector?: Detector;
  text?: TextReader;
  log?: Log;
}

/**
 * Detector regions for the motion boxes of a W×H frame: grown to `aspect` (w/h in pixels) and
 * a minimum size, overlapping ones merged; undefined = run on the whole frame.
 */
/** A copy of a live track for the frame result (the tracker keeps updating its own). */
function snapshot(t: TrackState): Track {
  return { id: t.id, label: t.label, box: { ...t.box }, score: t.score, firstMono: t.firstMono, lastMono: t.lastMono, path: t.path.map((p) => ({ ...p })) };
}

export function motionRegions(boxes: readonly Box[], W: number, H: number, aspect = 1): Box[] | undefined {
  const minSide = Math.min(W, H) / 3;
  let regions = boxes.map((b) => toAspect(b, aspect, W, H, minSide));
  for (let merged = true; merged;) {
    merged = false;
    outer: for (let i = 0; i < regions.length; i++) {
      for (let j = i + 1; j < regions.length; j++) {
        if (intersection(regions[i], regions[j]) > 0) {
          const u = toAspect(union(regions[i], regions[j]), aspect, W, H, minSide);
          regions = regions.filter((_, k) => k !== i && k !== j);
          regions.push(u);
          merged = true;
          break outer;
        }
      }
    }
  }
  const areaSum = regions.reduce((s, r) => s + r.w * r.h, 0);
  if (regions.length > MAX_REGIONS || areaSum > FULL_FRAME_AREA) return undefined;
  return regions;
}

export function createPipeline(camera: string, cfg: CameraAnalyticsConfig, deps: PipelineDeps): Pipeline {
  const { detector, text, log } = deps;
  const motion = createMotion({ threshold: cfg.falling?.threshold ?? cfg.motion.threshold, minArea: cfg.motion.minArea });
  const falling: Falling | undefined = cfg.falling ? createFalling(cfg.falling) : undefined;
  const tracker = createTracker({ timeoutSeconds: cfg.trackTimeoutSeconds });
  const zones: Zones = createZones(detector ? cfg.zones : []);
  const lines: Lines = createLines(detector ? cfg.lines : []);
  const crossing: CrossingWarning | undefined = detector && cfg.crossing ? createCrossingWarning(cfg.crossing, cfg.zones) : undefined;
  const structuring = createStructuring();
  const fullEveryMs = cfg.motion.fullFrameEverySeconds * 1000;
  const plateCfg = cfg.plates && text ? cfg.plates : undefined;
  const plateVehicles = plateCfg?.vehicles ?? DEFAULT_PLATE_VEHICLES;
  const plateMin = plateCfg?.minConfidence ?? 0.6;

  const st = { frames: 0, inferences: 0, motionFrames: 0, lastLatencyMs: undefined as number | undefined };
  let lastFull = -Infinity;
  let tickMono: number | undefined;
  let tickFrames = 0;
  let tickMotion = 0;
  let last: { mono: number; ts: number } = { mono: 0, ts: 0 };
  const plateTrackRead = new Map<number, { mono: number; texts: Set<string> }>();
  const plateRegionTexts = new Map<string, number>();
  let plateRegionRead = -Infinity;
  const failures = new Map<string, { count: number; lastLog: number }>();

  const warn = (what: string, err: unknown, mono: number): void => {
    let f = failures.get(what);
    if (!f) failures.set(what, (f = { count: 0, lastLog: -Infinity }));
    f.count++;
    if (mono - f.lastLog < 60_000) return;
    log?.warn({ camera, err: err instanceof Error ? err.message : String(err), failures: f.count }, `camera "${camera}": ${what} failed; frame reported without it`);
    f.lastLog = mono;
    f.count = 0;
  };

  const threshold = (label: string): number => cfg.thresholds[label] ?? cfg.thresholds.default ?? 0.5;
  const relabel = (d: Detection): Detection => {
    const name = cfg.classes?.[d.classId];
    return name !== undefined && name !== d.label ? { ...d, label: name } : d;
  };

  const endTracks = (f: TrackFrame): AnalyticEvent[] => {
    const out: AnalyticEvent[] = [];
    for (const t of f.ended) {
      plateTrackRead.delete(t.id);
      if (!cfg.structuring) continue;
      out.push(structuring.summarize(t, { zones: zones.visited(t.id), lines: lines.crossed(t.id) }));
    }
    for (const t of f.ended) {
      zones.forget(t.id);
      lines.forget(t.id);
    }
    return out;
  };

  const readPlates = async (frame: RgbFrame, tracks: TrackState[], motionBoxes: Box[]): Promise<AnalyticEvent[]> => {
    if (!plateCfg || !text) return [];
    const out: AnalyticEvent[] = [];
    const evidence = (box: Box) => ({ boxes: [{ label: 'plate', classId: -1, score: 1, box }] });
    try {
      if (plateCfg.on === 'region') {
        const region = plateCfg.region ?? WHOLE;
        if (frame.mono - plateRegionRead < 1000 || !motionBoxes.some((b) => intersection(b, region) > 0)) return [];
        plateRegionRead = frame.mono;
        for (const r of await text.read(frame, plateCfg.region)) {
          const t = r.text.trim();
          if (!t || r.confidence < plateMin) continue;
          const prev = plateRegionTexts.get(t);
          if (prev !== undefined && frame.mono - prev < PLATE_REPEAT_MS) continue;
          plateRegionTexts.set(t, frame.mono);
          out.push({ type: 'video.plate', severity: 'info', data: { text: t, confidence: round(r.confidence), box: roundBox(r.box) }, evidence: evidence(r.box) });
        }
        for (const [k, m] of plateRegionTexts) if (frame.mono - m >= PLATE_REPEAT_MS) plateRegionTexts.delete(k);
        return out;
      }
      if (!detector) return [];
      for (const tr of tracks) {
        if (!tr.seen || !plateVehicles.includes(tr.label)) continue;
        let r = plateTrackRead.get(tr.id);
        if (r && frame.mono - r.mono < 1000) continue;
        if (!r) plateTrackRead.set(tr.id, (r = { mono: frame.mono, texts: new Set() }));
        r.mono = frame.mono;
        for (const res of await text.read(frame, tr.box)) {
          const t = res.text.trim();
          if (!t || res.confidence < plateMin || r.texts.has(t)) continue;
          r.texts.add(t);
          out.push({
            type: 'video.plate', severity: 'info',
            data: { text: t, confidence: round(res.confidence), box: roundBox(res.box), track: tr.id, label: tr.label },
            evidence: evidence(res.box),
          });
        }
      }
    } catch (err) {
      warn('text reader', err, frame.mono);
    }
    return out;
  };

  return {
    async process(frame) {
      const started = performance.now();
      st.frames++;
      const m = motion.update(frame);
      if (m.boxes.length) st.motionFrames++;
      const events: AnalyticEvent[] = [];
      if (falling) events.push(...falling.update(m, frame));

      let inferred = false;
      let regions: Box[] = [];
      let detections: Detection[] = [];
      let tracks: TrackState[] = [];
      if (detector) {
        let look: Box[] | undefined | null = null; // null: no inference on this frame
        if (tracker.live().length > 0 && frame.mono - lastFull >= fullEveryMs) look = undefined;
        else if (m.boxes.length) look = motionRegions(m.boxes, frame.width, frame.height);
        let ok = false;
        if (look !== null) {
          st.inferences++;
          if (look === undefined) lastFull = frame.mono;
          try {
            const raw = await detector.detect(frame, look, cfg.thresholds);
            detections = raw.map(relabel).filter((d) => d.score >= threshold(d.label));
            ok = true;
            inferred = true;
            regions = look ?? [{ ...WHOLE }];
          } catch (err) {
            warn(`detector "${detector.model}"`, err, frame.mono);
          }
        }
        // No inference (or a failed one): tracks are neither matched nor missed, only expired.
        const up = ok ? tracker.update(detections, frame.mono, look ?? undefined) : tracker.update([], frame.mono, []);
        tracks = up.tracks;
        const f: TrackFrame = { mono: frame.mono, ts: frame.ts, tracks: up.tracks, ended: up.ended };
        events.push(...zones.update(f), ...lines.update(f));
        if (crossing) events.push(...crossing.update(f));
        if (cfg.structuring) structuring.observe(frame, up.tracks);
        events.push(...endTracks(f));
        events.push(...(await readPlates(frame, up.tracks, m.boxes)));
      }

      const readings: AnalyticReading[] = [];
      tickFrames++;
      tickMotion = Math.max(tickMotion, m.fraction);
      if (tickMono === undefined) tickMono = frame.mono;
      else if (frame.mono - tickMono >= 1000) {
        readings.push({ point: 'fps', value: round((tickFrames - 1) / ((frame.mono - tickMono) / 1000), 2), unit: 'fps' });
        readings.push({ point: 'motion', value: round(tickMotion) });
        if (detector) readings.push(...zones.readings(), ...lines.readings());
        tickMono = frame.mono;
        tickFrames = 1;
        tickMotion = 0;
      }
      last = { mono: frame.mono, ts: frame.ts };
      st.lastLatencyMs = round(performance.now() - started, 2);
      return {
        frame: { seq: frame.seq, ts: frame.ts, mono: frame.mono },
        motion: round(m.fraction, 5), inferred, regions, detections, tracks: tracks.map(snapshot), events, readings,
      };
    },
    close() {
      const ended = tracker.endAll();
      const f: TrackFrame = { mono: last.mono, ts: last.ts, tracks: [], ended };
      const events = [...zones.update(f), ...lines.update(f), ...endTracks(f), ...(crossing?.close() ?? [])];
      lastFull = -Infinity;
      return events;
    },
    stats: () => ({ ...st }),
    async detectAll(frame) {
      if (!deps.detector) return undefined;
      st.inferences++;
      return deps.detector.detect(frame, undefined, cfg.thresholds);
    },
  };
}
