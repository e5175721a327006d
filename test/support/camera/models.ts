// A stand-in for the models service (models/ is written and tested on its own, and end to end
// with this driver after the merge): its pipeline counts the frames it is given, checks they
// are whole RGB24 frames, can be made slow, and returns an empty FrameResult plus whatever
// events/readings a test scripts; its sound analyzer measures the PCM it is pushed (RMS in
// dBFS, a real computation of the real decoded audio); its evidence store keeps ids in memory.
import type { AnalyticEvent, AnalyticReading, AudioConfig, CameraAnalyticsConfig, EvidenceConfig, EvidenceStore, FrameResult, ModelInfo, ModelsAccess, Pipeline, RgbFrame } from '../../../models/types.ts';

export interface StandInOptions {
  /** ms each process() takes. */
  delayMs?: number;
  /** pipeline() rejects with this message. */
  failPipeline?: string;
  /** Events/readings returned for a frame. */
  script?(frame: RgbFrame): { events?: AnalyticEvent[]; readings?: AnalyticReading[] };
  models?: ModelInfo[];
}

export interface StandIn extends ModelsAccess {
  frames: { seq: number; width: number; height: number; bytes: number }[];
  /** Most process() calls in flight at once. */
  maxConcurrent: number;
  configs: CameraAnalyticsConfig[];
  pcmBytes: number;
  saved: { id: string; labels: string[]; camera: string }[];
  closed: number;
}

export function standInModels(o: StandInOptions = {}): StandIn {
  let inFlight = 0;
  const self: StandIn = {
    frames: [],
    maxConcurrent: 0,
    configs: [],
    pcmBytes: 0,
    saved: [],
    closed: 0,
    list: () => o.models ?? [],
    async pipeline(_camera: string, cfg: CameraAnalyticsConfig): Promise<Pipeline> {
      if (o.failPipeline) throw new Error(o.failPipeline);
      self.configs.push(cfg);
      let n = 0;
      return {
        async process(frame: RgbFrame): Promise<FrameResult> {
          inFlight++;
          self.maxConcurrent = Math.max(self.maxConcurrent, inFlight);
          try {
            if (frame.data.length !== frame.width * frame.height * 3) throw new Error(`frame ${frame.seq}: ${frame.data.length} bytes for ${frame.width}x${frame.height}`);
            self.frames.push({ seq: frame.seq, width: frame.width, height: frame.height, bytes: frame.data.length });
            if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
            n++;
            const s = o.script?.(frame) ?? {};
            return { frame: { seq: frame.seq, ts: frame.ts, mono: frame.mono }, motion: 0, inferred: false, regions: [], detections: [], tracks: [], events: s.events ?? [], readings: s.readings ?? [] };
          } finally {
            inFlight--;
          }
        },
        close: () => (self.closed++, []),
        stats: () => ({ frames: n, inferences: 0, motionFrames: 0 }),
      };
    },
    sound(_camera: string, cfg: AudioConfig) {
      return {
        push(pcm: Buffer) {
          self.pcmBytes += pcm.length;
          let sum = 0;
          const n = Math.floor(pcm.length / 2);
          for (let i = 0; i < n; i++) sum += (pcm.readInt16LE(i * 2) / 32768) ** 2;
          const dbfs = 10 * Math.log10(sum / Math.max(1, n) + 1e-12);
          return { events: [], readings: [{ point: 'sound.laeq', value: Math.round((dbfs + cfg.calibrationDb) * 10) / 10, unit: 'dB(A)' }] };
        },
      };
    },
    evidence(cfg: EvidenceConfig): EvidenceStore {
      let k = 0;
      return {
        async save(frame, boxes, camera) {
          if (!cfg.enabled) return undefined;
          const id = `ev-${frame.seq}-${k++}`;
          self.saved.push({ id, labels: boxes.map((b) => b.label), camera });
          return id;
        },
        read: async () => undefined,
        stats: () => ({ files: self.saved.length, bytes: 0, written: self.saved.length, evicted: 0 }),
      };
    },
    inferImage: async () => [],
    readText: async () => [],
  };
  return self;
}
