// The contract of models/: what the camera driver (drivers/camera), the flows and the CLI see.
// models/ knows no transport and no flow: it takes frames and sound, and returns detections,
// tracks, analytic events and readings; the camera driver puts them on the bus.
//
// Coordinates: every box, point and polygon that crosses this contract is NORMALIZED to the
// source image (x right, y down, 0..1), so config, events and detections do not depend on the
// analysis resolution. Pixels stay inside models/.

/** One decoded video frame: packed RGB24, row-major, no row padding (`data.length = w*h*3`). */
export interface RgbFrame {
  width: number;
  height: number;
  data: Uint8Array;
  /** Wall-clock ms when the frame was captured (read off the pipe / snapshot answered). */
  ts: number;
  /** Monotonic ms of capture (latency, speeds, dwell times use this). */
  mono: number;
  /** Frame counter of its source, from 0. */
  seq: number;
}

/** Normalized box: top-left corner and size, 0..1 of the source image. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type Point2 = [number, number];

export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
}

// ---------------------------------------------------------------------------------------------
// Model registry

export type ModelTask = 'detect' | 'ocr-det' | 'ocr-rec';

/** `yolov5`: output [1, N, 5+C] (cx, cy, w, h, objectness, class scores); `yolov8`: [1, 4+C, N] (also v11). */
export type YoloLayout = 'yolov5' | 'yolov8';

/** An installed model, as its manifest (`<models dir>/<name>/manifest.json`) describes it. */
export interface ModelManifest {
  name: string;
  task: ModelTask;
  /** The ONNX file, relative to the manifest's folder (or absolute for built-ins). */
  file: string;
  /** Hex sha256 of the file; verified before every load. */
  sha256: string;
  /** Model input (NCHW float32 RGB, 0..1 unless `normalize` says otherwise). */
  input: { width: number; height: number; mean?: [number, number, number]; std?: [number, number, number] };
  /** Detection models: output layout. */
  layout?: YoloLayout;
  /** Class names by class id (detection) or the character dictionary file (ocr-rec, `dict`). */
  classes?: string[];
  dict?: string;
  version?: string;
  description?: string;
  /** 'builtin' for the models the package ships (PaddleOCR), 'installed' otherwise. */
  origin?: 'builtin' | 'installed';
}

export interface ModelInfo extends ModelManifest {
  /** Absolute path of the ONNX file. */
  path: string;
  bytes: number;
}

// ---------------------------------------------------------------------------------------------
// Analytics config (the camera's zod schema produces these; defaults are applied there)

export interface ZoneConfig {
  name: string;
  polygon: Point2[];
  /** Classes counted in the zone (default: all the model's classes). */
  classes?: string[];
  /** Dwell/loitering alarm: an object of these classes stays in the zone longer than this. */
  dwellSeconds?: number;
}

export interface LineConfig {
  name: string;
  from: Point2;
  to: Point2;
  classes?: string[];
  /** Names of the two directions: crossing from the left side of from→to to its right is `[0]`. */
  directions?: [string, string];
}

export interface CrossingWarningConfig {
  /** Zone (by name) that is the pedestrian crossing. */
  zone: string;
  /** Classes that count as pedestrians (default ['person']). */
  pedestrians?: string[];
  /** When set, warn only while a vehicle is inside this zone (the approach). */
  approachZone?: string;
  vehicles?: string[];
  /** Minimum seconds between two raises for the same crossing (default 5). */
  holdSeconds?: number;
}

export interface FallingConfig {
  /** The facade region (polygon) watched for falling objects. */
  region: Point2[];
  /** Minimum drop, as a fraction of the image height, for a fall (default 0.15). */
  minDrop?: number;
  /** Pixel-difference threshold 0..255 of the motion stage (default 25). */
  threshold?: number;
}

export interface PlatesConfig {
  /** 'vehicles': read text inside detected vehicles; 'region': always read the region. */
  on: 'vehicles' | 'region';
  region?: Box;
  vehicles?: string[];
  /** Minimum recognition confidence for an event (default 0.6). */
  minConfidence?: number;
}

export interface MotionConfig {
  /** Pixel-difference threshold 0..255 (default 25). */
  threshold: number;
  /** Fraction of the downscaled frame that must change to count as motion (default 0.002). */
  minArea: number;
  /** Run the detector on the whole frame at least this often while tracks are alive, s (default 1). */
  fullFrameEverySeconds: number;
}

export interface CameraAnalyticsConfig {
  /** Registered model name (task detect); absent = motion-only analytics (falling objects). */
  model?: string;
  /** Class score thresholds; `default` for the rest (default 0.5). */
  thresholds: Record<string, number>;
  /** Overrides the manifest's class names. */
  classes?: string[];
  motion: MotionConfig;
  zones: ZoneConfig[];
  lines: LineConfig[];
  crossing?: CrossingWarningConfig;
  falling?: FallingConfig;
  /** One `video.track` event per ended track (video structuring). */
  structuring: boolean;
  plates?: PlatesConfig;
  /** A track ends after this many seconds unseen (default 2). */
  trackTimeoutSeconds: number;
}

// ---------------------------------------------------------------------------------------------
// Results

/** An analytic event; the camera driver adds device, id and ts and emits `type` on the bus. */
export interface AnalyticEvent {
  type: VideoEventType | AudioEventType;
  severity: 'info' | 'warning' | 'critical';
  state?: 'raise' | 'clear';
  data: Record<string, unknown>;
  /** Boxes to blur/draw in the evidence snapshot for this event, when evidence is on. */
  evidence?: { boxes: Detection[] };
}

/** A reading the camera device reports (point names: see docs/video.md). */
export interface AnalyticReading {
  point: string;
  value: number;
  unit?: string;
}

export interface Track {
  id: number;
  label: string;
  box: Box;
  score: number;
  firstMono: number;
  lastMono: number;
  /** Centroids over time (bounded), for line crossing and the structured summary. */
  path: { mono: number; x: number; y: number }[];
}

export interface FrameResult {
  frame: { seq: number; ts: number; mono: number };
  /** Fraction of the downscaled frame that moved. */
  motion: number;
  /** Whether the detector ran on this frame, and on which regions (normalized). */
  inferred: boolean;
  regions: Box[];
  detections: Detection[];
  tracks: Track[];
  events: AnalyticEvent[];
  readings: AnalyticReading[];
}

/** One camera's video analytics. Not re-entrant: the caller awaits each frame (latest frame wins). */
export interface Pipeline {
  process(frame: RgbFrame): Promise<FrameResult>;
  /** Per-window state to reset/close (e.g. ends open tracks → their `video.track` events). */
  close(): AnalyticEvent[];
  stats(): { frames: number; inferences: number; motionFrames: number; lastLatencyMs?: number };
  /**
   * Everything the detector finds on the whole frame (for redacting an evidence image that no
   * analytic looked at, e.g. a horn's); undefined without a detection model.
   */
  detectAll?(frame: RgbFrame): Promise<Detection[] | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Sound

export interface AudioConfig {
  /** Sample rate the camera driver decodes to (mono s16le). */
  sampleRate: number;
  /** Horn band in Hz (default [300, 3500]) and minimum duration (default 0.5 s). */
  hornBand: [number, number];
  hornMinSeconds: number;
  /** A horn needs its LAmax above this (dBA, calibrated scale; default 85). */
  hornMinDb: number;
  /** dB added to dBFS to get dBA on the site's calibration (default 120: 0 dBFS ≈ 120 dB SPL). */
  calibrationDb: number;
}

export interface SoundAnalyzer {
  /** Mono signed 16-bit little-endian PCM at cfg.sampleRate; any chunk size. */
  push(pcm: Buffer, mono: number): { events: AnalyticEvent[]; readings: AnalyticReading[] };
}

// ---------------------------------------------------------------------------------------------
// Text / plates, evidence

export interface TextResult {
  text: string;
  confidence: number;
  box: Box;
}

export interface EvidenceConfig {
  enabled: boolean;
  /** Labels whose boxes are blurred (default person, plate, face). */
  blur: string[];
  /** 'blur' (default) or 'box' (filled rectangle). */
  mode: 'blur' | 'box';
  /** Cap of the evidence folder in bytes (oldest files go first). */
  maxBytes: number;
  /** JPEG quality 1..100 (default 80). */
  quality: number;
}

export interface EvidenceStore {
  /** Writes a redacted JPEG of the frame; returns its id (referenced by events), or undefined when off. */
  save(frame: RgbFrame, boxes: Detection[], camera: string): Promise<string | undefined>;
  read(id: string): Promise<Buffer | undefined>;
  stats(): { files: number; bytes: number; written: number; evicted: number };
}

// ---------------------------------------------------------------------------------------------
// Inside models/: the parts the service composes (each file owns one)

/** A detection model ready to run (models/engine.ts + models/yolo.ts). */
export interface Detector {
  readonly model: string;
  /** Class names by class id. */
  readonly classes: string[];
  /**
   * Detections on the whole frame, or only inside the given normalized regions (each cropped and
   * scaled to the model input; results mapped back to the whole frame, NMS across regions).
   */
  detect(frame: RgbFrame, regions?: Box[], thresholds?: Record<string, number>): Promise<Detection[]>;
}

/** PaddleOCR text detection + recognition (models/ocr.ts). */
export interface TextReader {
  read(frame: RgbFrame, region?: Box): Promise<TextResult[]>;
}

// Factories (one file each; the service wires them):
//   models/pipeline.ts  createPipeline(camera: string, cfg: CameraAnalyticsConfig, deps: { detector?: Detector; text?: TextReader; log?: Log }): Pipeline
//   models/audio.ts     createSoundAnalyzer(cfg: AudioConfig): SoundAnalyzer
//   models/evidence.ts  createEvidenceStore(dir: string, cfg: EvidenceConfig, log?: Log): EvidenceStore
//   models/ocr.ts       createTextReader(opts: { detModel: string; recModel: string; dictFile: string; session?: (path: string) => Promise<SessionLike> }): TextReader
//   models/engine.ts    createEngine(opts: { threads: number; log: Log }): Engine  (shared sessions, sha256 check, stats)

// ---------------------------------------------------------------------------------------------
// What the models service offers the camera driver, the flows and the CLI

export interface ModelsAccess {
  /** Installed and built-in models (manifests verified on load, not here). */
  list(): ModelInfo[];
  pipeline(camera: string, cfg: CameraAnalyticsConfig): Promise<Pipeline>;
  sound(camera: string, cfg: AudioConfig): SoundAnalyzer;
  evidence(cfg: EvidenceConfig): EvidenceStore;
  /** Detections on an encoded image (JPEG/PNG, the `wayside infer` node). */
  inferImage(image: Buffer, model: string, opts?: { thresholds?: Record<string, number> }): Promise<Detection[]>;
  /** Text in an image, or in a normalized region of it (PaddleOCR). */
  readText(image: RgbFrame, region?: Box): Promise<TextResult[]>;
}

export const VIDEO_EVENT_TYPES = [
  'video.zone_enter', 'video.zone_exit', 'video.line_cross', 'video.dwell', 'video.crossing_warning',
  'video.fall', 'video.track', 'video.plate', 'video.stream',
] as const;
export type VideoEventType = (typeof VIDEO_EVENT_TYPES)[number];
export const AUDIO_EVENT_TYPES = ['audio.horn'] as const;
export type AudioEventType = (typeof AUDIO_EVENT_TYPES)[number];
