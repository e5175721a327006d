// `camera`: a pole camera as a device. Frames come from a reconnecting source (ffmpeg for RTSP,
// HTTP MJPEG and files; HTTP polling for snapshot URLs), go one at a time through the models
// service's pipeline (latest frame wins: while a frame is analysed, a newer one replaces the
// waiting one and the replaced one is counted as dropped), and its analytic events and readings
// go on the bus. Frames never go on the bus. Sound (the camera's own track or an ALSA
// microphone) goes through a second ffmpeg to the sound analyzer.
//
// Device state: starting until the first frame; online while frames flow; degraded while the
// stream is down (within `lostAfter`), the model is unavailable or inference fails; offline when
// the stream has been down for `lostAfter` (one `video.stream` + one `device.fault` raise per
// outage, with the reason; their clears when frames flow again).
import type { AnalyticEvent, AnalyticReading, AudioConfig, CameraAnalyticsConfig, Detection, EvidenceConfig, EvidenceStore, ModelsAccess, Pipeline, RgbFrame, SoundAnalyzer, Track } from '../../models/types.ts';
import { emitEvent } from '../../runtime/events.ts';
import type { Ctx, DeviceHealth, DeviceSnapshot, DeviceState, Driver, Reading } from '../../runtime/types.ts';
import sharp from 'sharp';
import { refuseWrite } from '../common/write.ts';
import { audioArgs, ffmpegSession, videoArgs, type VideoArgsOptions } from './ffmpeg.ts';
import { cameraModelsConfig, resolveSource, type CameraConfig, type CameraSource } from './schema.ts';
import { snapshotSession } from './snapshot.ts';
import { createStream, type Opener, type Stream } from './source.ts';
import { redact, type StreamFault } from './stderr.ts';

export { cameraSchema, CAMERA_DESCRIPTION, cameraModelsConfig, type CameraConfig } from './schema.ts';

export interface CameraStats {
  source: string;
  kind: CameraSource['kind'];
  /** Analysis size of the last frame. */
  width?: number;
  height?: number;
  stream: 'up' | 'down';
  /** Frames per second received / analysed over the last stats window. */
  fpsIn: number;
  fpsProcessed: number;
  frames: number;
  processed: number;
  /** Frames replaced by a newer one while the pipeline was busy. */
  dropped: number;
  /** Frames waiting for the pipeline now (0 or 1) and the most ever seen at once. */
  waiting: number;
  maxWaiting: number;
  /** Frame read off the stream → its events and readings on the bus, over the last 200 analysed frames (ms). */
  latencyP50Ms?: number;
  latencyP95Ms?: number;
  /** Connections after the first one. */
  reconnects: number;
  lastStreamError?: StreamFault;
  pipeline: { ready: boolean; problem?: string; errors: number; stats?: ReturnType<Pipeline['stats']> };
  audio?: { stream: 'up' | 'down'; chunks: number; bytes: number; reconnects: number; lastStreamError?: StreamFault; problem?: string };
  evidence?: { saved: number; failed: number; stats?: ReturnType<EvidenceStore['stats']> };
  /** pids of the ffmpeg children now running. */
  pids: number[];
}

export interface CameraHealth extends DeviceHealth {
  errorsByKind: Record<string, number>;
  camera: CameraStats;
}

export interface CameraDriver extends Driver {
  health(): CameraHealth;
}

const DEFAULT_WIDTH = 640;
const PIPELINE_RETRY_MS = [5_000, 15_000, 60_000, 300_000];

/** The URL with the device's credentials inside (for ffmpeg); the source unchanged without them. */
export function sourceUrl(cfg: Pick<CameraConfig, 'username' | 'password'>, src: CameraSource): string {
  if ((src.kind !== 'rtsp' && src.kind !== 'mjpeg' && src.kind !== 'snapshot') || (cfg.username === undefined && cfg.password === undefined)) return src.target;
  const u = new URL(src.target);
  if (u.username || u.password) return src.target; // the operator wrote them into the URL
  u.username = encodeURIComponent(cfg.username ?? '');
  u.password = encodeURIComponent(cfg.password ?? '');
  return u.toString();
}

/** The analysis size: configured, else fit to the model's input, else up to 640 wide. */
export function analysisSize(cfg: Pick<CameraConfig, 'width' | 'height' | 'model'>, models?: ModelsAccess): VideoArgsOptions['size'] {
  if (cfg.width || cfg.height) return { width: cfg.width, height: cfg.height };
  if (cfg.model && models) {
    try {
      const m = models.list().find((x) => x.name === cfg.model && x.task === 'detect');
      if (m) return { fit: { width: m.input.width, height: m.input.height } };
    } catch {
      // an unreadable model list is the pipeline's problem to report; the size falls back
    }
  }
  return {};
}

export function createCameraDriver(cfg: CameraConfig, ctx: Ctx, models: ModelsAccess | undefined): CameraDriver {
  const { log, clock } = ctx;
  const src = resolveSource(cfg);
  const url = sourceUrl(cfg, src);
  const shown = redact(src.kind === 'file' ? `file:${src.target}` : src.kind === 'alsa' ? `alsa:${src.target}` : src.target);
  const conf: { analytics: CameraAnalyticsConfig; audio?: AudioConfig; evidence: EvidenceConfig } = cameraModelsConfig(cfg);
  const video = src.kind !== 'alsa';
  const size = analysisSize(cfg, models);
  const pointNames = [...(video ? ['fps', 'frames_dropped', 'motion'] : []), ...(conf.audio ? ['sound.laeq', 'sound.lamax'] : [])];

  let running = false;
  let pipeline: Pipeline | undefined;
  let pipelineProblem: string | undefined;
  let pipelineFailing = false;
  let pipelineErrors = 0;
  let pipelineTries = 0;
  let pipelineTimer: NodeJS.Timeout | undefined;
  let sound: SoundAnalyzer | undefined;
  let soundProblem: string | undefined;
  let evidence: EvidenceStore | undefined;
  let evidenceSaved = 0;
  let evidenceFailed = 0;
  let statsTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;

  // Counters
  let seq = 0;
  let frames = 0;
  let processed = 0;
  let dropped = 0;
  let maxWaiting = 0;
  let readings = 0;
  let errors = 0;
  const errorsByKind: Record<string, number> = {};
  let lastReadingTs: number | undefined;
  let lastError: string | undefined;
  let win = { at: 0, frames: 0, processed: 0, dropped: 0 };
  let fpsIn = 0;
  let fpsProcessed = 0;
  let width: number | undefined;
  let height: number | undefined;

  // Stream state (video, or the microphone for a sound-only device)
  let everUp = false;
  let up = false;
  let outage: { since: number; failures: number; fault: StreamFault; raised?: StreamFault } | undefined;
  let lastStreamError: StreamFault | undefined;
  const audioState = { up: false, chunks: 0, bytes: 0, lastStreamError: undefined as StreamFault | undefined, downSince: undefined as number | undefined };

  // Latency ring (frame arrival → results emitted)
  const latencies = new Float64Array(200);
  let latencyAt = 0;
  let latencyCount = 0;
  const latencyPct = (p: number): number | undefined => {
    const n = Math.min(latencyCount, latencies.length);
    if (!n) return undefined;
    const sorted = Array.from(latencies.subarray(0, n)).sort((a, b) => a - b);
    return Math.round(sorted[Math.min(n - 1, Math.floor(p * n))] * 10) / 10;
  };

  // Latest frame wins
  let latest: RgbFrame | undefined;
  // The last analysed frame and what was found on it (the status page's view); its JPEG is
  // made only when asked, once per frame.
  let analysed: { frame: RgbFrame; detections: Detection[] } | undefined;
  let jpegOf: { seq: number; jpeg: Promise<Buffer> } | undefined;
  let busy = false;
  let waiting: RgbFrame | undefined;

  const fail = (kind: string, message: string): void => {
    errors++;
    errorsByKind[kind] = (errorsByKind[kind] ?? 0) + 1;
    lastError = `${kind}: ${message}`;
  };

  const reading = (point: string, value: number, unit?: string, ts = clock.now()): void => {
    if (!running) return;
    const r: Reading = { device: cfg.id, point, value, quality: 'good', ts, ...(unit !== undefined && { unit }) };
    const flag = clock.flag();
    if (flag) r.clock = flag;
    readings++;
    lastReadingTs = ts;
    ctx.bus.emit('reading', r);
  };

  const deviceError = (kind: string, message: string): void => {
    emitEvent(ctx, { type: 'device.error', device: cfg.id, severity: 'warning', data: { driver: 'camera', kind, message } });
  };

  // Redaction covers everyone in the image, not only the event's subject: the event's boxes, the
  // frame's tracks, and (with a detection model) one whole-frame detection per evidence frame,
  // shared by the events of that frame.
  let redactFor: { seq: number; boxes: Promise<Detection[]> } | undefined;
  const redactionBoxes = (frame: RgbFrame, tracks: Track[] | undefined, own: Detection[]): Promise<Detection[]> => {
    if (redactFor?.seq !== frame.seq) {
      const p = pipeline;
      const fromTracks: Detection[] = (tracks ?? []).map((t) => ({ label: t.label, classId: -1, score: t.score, box: t.box }));
      const all = p?.detectAll && conf.analytics.model ? p.detectAll(frame).then((d) => d ?? []) : Promise.resolve([]);
      redactFor = { seq: frame.seq, boxes: all.then((d) => [...fromTracks, ...d]) };
    }
    return redactFor.boxes.then((b) => [...own, ...b]);
  };

  const emitAnalytic = async (e: AnalyticEvent, frame?: RgbFrame, tracks?: Track[]): Promise<void> => {
    const data: Record<string, unknown> = { ...e.data };
    // An event with evidence boxes (possibly none: a detector that saw no one) gets an image.
    if (evidence && frame && e.evidence) {
      try {
        const boxes = await redactionBoxes(frame, tracks, e.evidence.boxes);
        const id = await evidence.save(frame, boxes, cfg.id);
        if (id !== undefined) {
          data.evidence = id;
          evidenceSaved++;
        }
      } catch (err) {
        evidenceFailed++;
        log.warn({ err: (err as Error).message, type: e.type }, 'evidence not saved');
      }
    }
    emitEvent(ctx, { type: e.type as string, device: cfg.id, severity: e.severity, ...(e.state && { state: e.state }), data });
  };

  const analyticReadings = (rs: AnalyticReading[], ts: number): void => {
    for (const r of rs) reading(r.point, r.value, r.unit, ts);
  };

  // ---- the pipeline

  const acquirePipeline = async (): Promise<void> => {
    pipelineTimer = undefined;
    if (!running || !video) return;
    if (!models) {
      pipelineProblem = 'the models service is not running (video analytics unavailable)';
    } else {
      try {
        pipeline = await models.pipeline(cfg.id, conf.analytics);
        if (!running) {
          pipeline.close();
          pipeline = undefined;
          return;
        }
        if (pipelineProblem) log.info({ model: conf.analytics.model }, 'video analytics ready');
        pipelineProblem = undefined;
        return;
      } catch (err) {
        pipelineProblem = `model ${conf.analytics.model ? `"${conf.analytics.model}"` : '(motion only)'}: ${(err as Error).message ?? String(err)}`;
      }
    }
    fail('model', pipelineProblem);
    log.error({ err: pipelineProblem }, 'video analytics unavailable');
    if (pipelineTries === 0) deviceError('model', pipelineProblem);
    const delay = PIPELINE_RETRY_MS[Math.min(pipelineTries++, PIPELINE_RETRY_MS.length - 1)];
    if (running) pipelineTimer = setTimeout(() => void acquirePipeline(), delay);
  };

  const processOne = async (frame: RgbFrame): Promise<void> => {
    if (!pipeline) return;
    let result;
    try {
      result = await pipeline.process(frame);
    } catch (err) {
      pipelineErrors++;
      const msg = `frame ${frame.seq}: ${(err as Error).message ?? String(err)}`;
      fail('inference', msg);
      if (!pipelineFailing) {
        pipelineFailing = true;
        log.warn({ err: msg }, 'video analytics failed');
        deviceError('inference', msg);
      }
      return;
    }
    processed++;
    // Between detector runs the tracks carry the boxes forward.
    analysed = { frame, detections: result.inferred ? result.detections : result.tracks.map((t) => ({ label: t.label, classId: -1, score: t.score, box: t.box })) };
    if (pipelineFailing) {
      pipelineFailing = false;
      log.info('video analytics recovered');
    }
    analyticReadings(result.readings, frame.ts);
    const evs = result.events.map((e) => emitAnalytic(e, frame, result.tracks));
    latencies[latencyAt++ % latencies.length] = clock.mono() - frame.mono;
    latencyCount++;
    await Promise.all(evs);
  };

  const pump = async (first: RgbFrame): Promise<void> => {
    busy = true;
    let frame: RgbFrame | undefined = first;
    try {
      while (frame && running) {
        await processOne(frame);
        frame = waiting;
        waiting = undefined;
      }
    } finally {
      busy = false;
      waiting = undefined;
    }
  };

  const onFrame = (data: Uint8Array, w: number, h: number): void => {
    frames++;
    width = w;
    height = h;
    const frame: RgbFrame = { width: w, height: h, data, ts: clock.now(), mono: clock.mono(), seq: seq++ };
    latest = frame;
    if (busy) {
      if (waiting) dropped++;
      waiting = frame;
      maxWaiting = Math.max(maxWaiting, 1);
      return;
    }
    void pump(frame);
  };

  // ---- stream state and events

  const onUp = (): void => {
    up = true;
    everUp = true;
    if (outage) {
      const downMs = Math.round(clock.mono() - outage.since);
      if (outage.raised) {
        emitEvent(ctx, { type: 'video.stream', device: cfg.id, severity: 'info', state: 'clear', data: { recovered: true, downMs, reason: outage.raised.reason, failures: outage.failures } });
        emitEvent(ctx, { type: 'device.fault', device: cfg.id, severity: 'info', state: 'clear', data: { driver: 'camera', recovered: true, offlineMs: downMs, failures: outage.failures } });
      }
      log.info({ downMs, reason: outage.fault.reason }, 'stream back');
      outage = undefined;
    } else {
      log.info({ source: shown }, 'stream up');
    }
  };

  const onDown = (fault: StreamFault): void => {
    up = false;
    lastStreamError = fault;
    fail(fault.reason, fault.message);
    if (!outage) {
      outage = { since: clock.mono(), failures: 1, fault };
      log.warn({ reason: fault.reason, err: fault.message }, 'stream lost');
    } else {
      outage.failures++;
      outage.fault = fault;
    }
  };

  const checkGrace = (): void => {
    if (!running || !outage || outage.raised || clock.mono() - outage.since < cfg.lostAfter) return;
    outage.raised = outage.fault;
    const { reason, message } = outage.fault;
    log.warn({ reason, err: message, failures: outage.failures }, 'camera offline');
    emitEvent(ctx, { type: 'video.stream', device: cfg.id, severity: 'warning', state: 'raise', data: { reason, error: message, source: shown, failures: outage.failures } });
    emitEvent(ctx, { type: 'device.fault', device: cfg.id, severity: 'warning', state: 'raise', data: { driver: 'camera', kind: reason, error: message, failures: outage.failures } });
  };

  const tickStats = (): void => {
    const now = clock.mono();
    const secs = Math.max(0.001, (now - win.at) / 1000);
    const inWin = frames - win.frames;
    fpsIn = Math.round((inWin / secs) * 100) / 100;
    fpsProcessed = Math.round(((processed - win.processed) / secs) * 100) / 100;
    const droppedWin = dropped - win.dropped;
    win = { at: now, frames, processed, dropped };
    // Reported while frames flow; a dead stream goes silent (and offline, through video.stream).
    if (video && inWin > 0) {
      reading('fps', fpsIn, 'fps');
      reading('frames_dropped', droppedWin);
    }
  };

  // ---- sources

  const videoOpener = (): Opener => {
    if (src.kind === 'snapshot') {
      return (h) => snapshotSession({ url: src.target, username: cfg.username, password: cfg.password, fps: cfg.fps, timeoutMs: cfg.timeout, size }, h);
    }
    const args = videoArgs({ source: src, url, fps: cfg.fps, size, rtspTransport: cfg.rtspTransport, loop: cfg.loop, timeoutMs: cfg.timeout });
    return (h) => ffmpegSession(args, h, 'ppm');
  };

  const audioOpener = (a: AudioConfig): Opener => {
    const mic = src.kind === 'alsa' ? src : cfg.audio.source.startsWith('alsa:') ? { kind: 'alsa' as const, target: cfg.audio.source.slice(5) } : src;
    const args = audioArgs({ source: mic, url, rtspTransport: cfg.rtspTransport, loop: cfg.loop, timeoutMs: cfg.timeout, sampleRate: a.sampleRate });
    return (h) => ffmpegSession(args, h, 'pcm');
  };

  const backoff = { minMs: cfg.reconnect.min, maxMs: Math.max(cfg.reconnect.min, cfg.reconnect.max) };
  const videoStream: Stream | undefined = video
    ? createStream({ open: videoOpener(), clock, log, stallMs: cfg.stallTimeout, startMs: cfg.timeout, backoff, onFrame, onUp, onDown })
    : undefined;

  /**
   * A sound event's evidence: the video frame of that moment, redacted with what the detector
   * finds on the whole of it. Without a detection model nothing could be blurred, so no image.
   */
  const soundEvidence = async (e: AnalyticEvent): Promise<void> => {
    const frame = latest;
    if (evidence && frame && pipeline?.detectAll && conf.analytics.model) return emitAnalytic({ ...e, evidence: { boxes: [] } }, frame);
    return emitAnalytic(e);
  };

  const onPcm = (chunk: Buffer): void => {
    audioState.chunks++;
    audioState.bytes += chunk.length;
    if (!sound) return;
    let out;
    try {
      out = sound.push(chunk, clock.mono());
    } catch (err) {
      fail('sound', (err as Error).message ?? String(err));
      return;
    }
    const ts = clock.now();
    analyticReadings(out.readings, ts);
    for (const e of out.events) void soundEvidence(e);
  };

  const audioStream: Stream | undefined = conf.audio
    ? createStream({
      open: audioOpener(conf.audio), clock, log: log.child({ track: 'audio' }), stallMs: cfg.stallTimeout, startMs: cfg.timeout, backoff, onPcm,
      onUp: () => {
        audioState.up = true;
        audioState.downSince = undefined;
        if (!video) onUp();
      },
      onDown: (fault) => {
        audioState.up = false;
        audioState.lastStreamError = fault;
        audioState.downSince ??= clock.mono();
        if (!video) onDown(fault);
        else fail(`audio_${fault.reason}`, fault.message);
      },
    })
    : undefined;

  const state = (): DeviceState => {
    if (!running) return stoppedOnce ? 'stopped' : 'starting';
    if (outage?.raised) return 'offline';
    if (outage) return 'degraded';
    if (!everUp) return 'starting';
    if (video && (pipelineProblem || pipelineFailing)) return 'degraded';
    if (conf.audio && (soundProblem || (video && audioState.downSince !== undefined && clock.mono() - audioState.downSince >= cfg.lostAfter))) return 'degraded';
    return 'online';
  };

  let stoppedOnce = false;
  let starts = 0;

  /** The last analysed frame with its boxes, or the latest frame alone while analysis lags by > 2 s or is unavailable. */
  const snapshot = async (): Promise<DeviceSnapshot | undefined> => {
    const fresh = analysed && (!latest || latest.mono - analysed.frame.mono <= 2000) ? analysed : undefined;
    const frame = fresh?.frame ?? latest;
    if (!frame) return undefined;
    if (jpegOf?.seq !== frame.seq) {
      const raw = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
      jpegOf = { seq: frame.seq, jpeg: sharp(raw, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 75 }).toBuffer() };
    }
    const pending = jpegOf;
    let jpeg: Buffer;
    try {
      jpeg = await pending.jpeg;
    } catch (err) {
      if (jpegOf === pending) jpegOf = undefined; // asked again, tried again
      throw err;
    }
    const px = (v: number, size: number) => Math.round(Math.max(0, Math.min(1, v)) * size);
    const detections = (fresh?.detections ?? []).map((d) => ({
      label: d.label,
      score: Math.round(d.score * 1000) / 1000,
      box: [px(d.box.x, frame.width), px(d.box.y, frame.height), px(d.box.w, frame.width), px(d.box.h, frame.height)] as [number, number, number, number],
    }));
    return { jpeg, width: frame.width, height: frame.height, ts: frame.ts, detections };
  };

  return {
    write: refuseWrite('camera', cfg.id, pointNames),
    snapshot,

    async start() {
      if (running) return;
      running = true;
      starts++;
      stoppedOnce = false;
      everUp = false;
      up = false;
      outage = undefined;
      pipelineTries = 0;
      pipelineFailing = false;
      win = { at: clock.mono(), frames, processed, dropped };
      log.info({ source: shown, kind: src.kind, fps: cfg.fps, size, model: conf.analytics.model, audio: !!conf.audio }, 'camera starting');
      if (conf.evidence.enabled && video) {
        try {
          evidence = models?.evidence(conf.evidence);
          if (!evidence) log.warn('evidence is on but the models service is not running: no images are saved');
        } catch (err) {
          log.error({ err: (err as Error).message }, 'evidence store unavailable');
        }
      }
      if (conf.audio) {
        try {
          sound = models?.sound(cfg.id, conf.audio);
          soundProblem = sound ? undefined : 'the models service is not running (sound analysis unavailable)';
        } catch (err) {
          soundProblem = `sound analyzer: ${(err as Error).message ?? String(err)}`;
        }
        if (soundProblem) {
          fail('model', soundProblem);
          log.error({ err: soundProblem }, 'sound analysis unavailable');
          deviceError('model', soundProblem);
        }
      }
      statsTimer = setInterval(tickStats, cfg.statsInterval);
      graceTimer = setInterval(checkGrace, Math.max(50, Math.min(1000, Math.floor(cfg.lostAfter / 4))));
      videoStream?.start();
      audioStream?.start();
      await acquirePipeline();
    },

    async stop() {
      if (!running) {
        stoppedOnce = true;
        return;
      }
      clearInterval(statsTimer);
      clearInterval(graceTimer);
      clearTimeout(pipelineTimer);
      await Promise.all([videoStream?.stop(), audioStream?.stop()]);
      // Open tracks end with the device: their last events go out before it reports stopped.
      const p = pipeline;
      pipeline = undefined;
      if (p) {
        try {
          for (const e of p.close()) await emitAnalytic(e);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'closing the pipeline failed');
        }
      }
      running = false;
      stoppedOnce = true;
      waiting = undefined;
      up = false;
      log.info({ frames, processed, dropped }, 'camera stopped');
    },

    health(): CameraHealth {
      const v = videoStream?.stats();
      const a = audioStream?.stats();
      let pstats: ReturnType<Pipeline['stats']> | undefined;
      try {
        pstats = pipeline?.stats();
      } catch {
        pstats = undefined;
      }
      let estats: ReturnType<EvidenceStore['stats']> | undefined;
      try {
        estats = evidence?.stats();
      } catch {
        estats = undefined;
      }
      const camera: CameraStats = {
        source: shown,
        kind: src.kind,
        ...(width !== undefined && { width, height }),
        stream: up ? 'up' : 'down',
        fpsIn,
        fpsProcessed,
        frames,
        processed,
        dropped,
        waiting: waiting ? 1 : 0,
        maxWaiting,
        ...(latencyCount > 0 && { latencyP50Ms: latencyPct(0.5), latencyP95Ms: latencyPct(0.95) }),
        reconnects: Math.max(0, ((v ?? a)?.connects ?? 0) - starts),
        ...(lastStreamError && { lastStreamError }),
        pipeline: { ready: !!pipeline, ...(pipelineProblem && { problem: pipelineProblem }), errors: pipelineErrors, ...(pstats && { stats: pstats }) },
        ...(a && {
          audio: {
            stream: audioState.up ? 'up' : 'down', chunks: audioState.chunks, bytes: audioState.bytes, reconnects: Math.max(0, a.connects - starts),
            ...(audioState.lastStreamError && { lastStreamError: audioState.lastStreamError }), ...(soundProblem && { problem: soundProblem }),
          },
        }),
        ...(evidence && { evidence: { saved: evidenceSaved, failed: evidenceFailed, ...(estats && { stats: estats }) } }),
        pids: [v?.pid, a?.pid].filter((p): p is number => p !== undefined),
      };
      return {
        device: cfg.id,
        driver: 'camera',
        state: state(),
        errors,
        readings,
        ...(lastReadingTs !== undefined && { lastReadingTs }),
        ...(lastError !== undefined && { lastError: pipelineProblem ?? soundProblem ?? lastError }),
        errorsByKind: { ...errorsByKind },
        camera,
      };
    },
  };
}
