// Device fields of the `camera` driver (validated by the config loader): where the frames come
// from, how often and how big, what the analytics watch (zones, lines, crossing, falling
// objects, plates), sound and evidence. Coordinates are normalized to the image (0..1, x right,
// y down). `cameraModelsConfig` turns a parsed device into what models/ takes.
import path from 'node:path';
import { z } from 'zod';
import type { DeviceBase, DeviceIssue } from '../../runtime/drivers.ts';
import { configDir } from '../../runtime/drivers.ts';
import { bool, expected, int, num, oneOf, text } from '../../runtime/config/fields.ts';
import { secret } from '../../runtime/config/secrets.ts';
import { duration, size } from '../../runtime/config/units.ts';
import type { AudioConfig, CameraAnalyticsConfig, EvidenceConfig, Point2 } from '../../models/types.ts';

export const SOURCE_TYPES = ['auto', 'rtsp', 'mjpeg', 'snapshot', 'file'] as const;
/** What a source is once `auto` is resolved; `alsa` is a microphone (audio only). */
export type SourceKind = 'rtsp' | 'mjpeg' | 'snapshot' | 'file' | 'alsa';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const name = (what: string) =>
  z.string({ error: expected(`a ${what} name of letters, digits, "_" or "-"`) }).regex(NAME_RE)
    .describe(`${what} name (part of point names: no dots)`);

const unit = (what = 'a number 0..1') => num(what).min(0).max(1).refine(Number.isFinite, { error: expected(what) });
const point = z.tuple([unit('a coordinate 0..1'), unit('a coordinate 0..1')], { error: expected('a point [x, y] with x and y 0..1') })
  .describe('[x, y], normalized 0..1 (x right, y down)');
const polygon = (what: string) =>
  z.array(point, { error: expected(`a polygon: a list of at least 3 points [x, y]`) })
    .min(3, { error: (iss) => `expected a ${what} of at least 3 points [x, y], got ${Array.isArray(iss.input) ? `${iss.input.length}` : 'none'}` })
    .max(64)
    .describe(`${what}: at least 3 points [x, y], normalized 0..1`);
const labels = () => z.array(text('a class name'), { error: expected('a list of class names') }).min(1);
const seconds = (min: string, max: string) => duration(min, max);

const zoneSchema = z.strictObject({
  name: name('zone'),
  polygon: polygon('polygon'),
  classes: labels().optional().describe('classes counted in the zone (default: all the model\'s classes, or the device\'s classes)'),
  dwell: seconds('1s', '1d').optional().describe('raise video.dwell when an object of these classes stays longer than this'),
}, { error: expected('a zone mapping { name, polygon }') });

const lineSchema = z.strictObject({
  name: name('line'),
  from: point,
  to: point,
  classes: labels().optional().describe('classes counted (default: all)'),
  directions: z.tuple([name('direction'), name('direction')], { error: expected('two direction names, like [in, out]') })
    .default(['in', 'out'])
    .describe('names of the two directions: crossing from the left side of from→to to its right is the first'),
}, { error: expected('a line mapping { name, from, to }') });

const crossingSchema = z.strictObject({
  zone: name('zone').describe('the zone that is the pedestrian crossing'),
  pedestrians: labels().default(['person']),
  approachZone: name('zone').optional().describe('warn only while a vehicle is inside this zone'),
  vehicles: labels().default(['car', 'truck', 'bus', 'motorcycle', 'bicycle']),
  hold: seconds('0s', '1h').prefault('5s').describe('minimum time between two warnings'),
}, { error: expected('a mapping { zone, ... }') });

const fallingSchema = z.strictObject({
  region: polygon('region'),
  minDrop: num('a fraction 0.01..1 of the image height').min(0.01).max(1).default(0.15),
  threshold: int(1, 255).default(25).describe('pixel difference 0..255 that counts as change'),
}, { error: expected('a mapping { region, ... }') });

const boxSchema = z.strictObject({
  x: unit(), y: unit(), w: unit(), h: unit(),
}, { error: expected('a box { x, y, w, h } normalized 0..1') }).refine((b) => b.x + b.w <= 1 + 1e-9 && b.y + b.h <= 1 + 1e-9, {
  error: 'the box reaches outside the image (x + w and y + h must be at most 1)',
});

const platesSchema = z.strictObject({
  on: oneOf(['vehicles', 'region']).default('vehicles').describe('vehicles: read inside detected vehicles; region: always read the region'),
  region: boxSchema.optional(),
  vehicles: labels().default(['car', 'truck', 'bus', 'motorcycle']),
  minConfidence: unit().default(0.6),
}, { error: expected('a mapping { on, ... }') });

const motionSchema = z.strictObject({
  threshold: int(1, 255).default(25).describe('pixel difference 0..255 that counts as change'),
  minArea: unit('a fraction 0..1 of the frame').default(0.002).describe('fraction of the frame that must change'),
  fullFrameEvery: seconds('100ms', '1h').prefault('1s').describe('run the detector on the whole frame at least this often while tracks are alive'),
}, { error: expected('a mapping') });

const audioSchema = z.strictObject({
  enabled: bool().default(false),
  source: z.string({ error: expected('"camera" or an ALSA device like "alsa:hw:0"') })
    .regex(/^(camera|alsa:\S+)$/)
    .default('camera')
    .describe('camera: the stream\'s own audio track; alsa:<device>: a microphone on the gateway'),
  sampleRate: int(8000, 48000).default(16000),
  hornBand: z.tuple([int(20, 20000), int(20, 20000)], { error: expected('[low, high] in Hz') }).default([300, 3500])
    .refine(([lo, hi]) => lo < hi, { error: 'expected [low, high] with low < high' }),
  hornMin: seconds('100ms', '10s').prefault('500ms').describe('shortest horn'),
  hornMinDb: num('a level in dBA').min(0).max(200).default(85),
  calibrationDb: num('dB added to dBFS').min(0).max(200).default(120).describe('dB added to dBFS to get dBA on this site (0 dBFS ≈ this many dB SPL)'),
}, { error: expected('a mapping') });

const evidenceSchema = z.strictObject({
  enabled: bool().default(false).describe('save a redacted JPEG per analytic event (off by default)'),
  blur: z.array(text('a class name'), { error: expected('a list of class names') }).default(['person', 'plate', 'face'])
    .describe('labels whose boxes are blurred in every saved image'),
  mode: oneOf(['blur', 'box']).default('blur'),
  maxBytes: size('1MiB', '1TiB').prefault('256MiB').describe('cap of the evidence folder; the oldest files go first'),
  quality: int(1, 100).default(80),
  upload: bool().default(false).describe('reserved: images never leave the gateway in this version (only their ids go up)'),
}, { error: expected('a mapping') });

export const cameraSchema = z.object({
  source: text('an rtsp://, http(s)://, file: or alsa: source')
    .transform(absoluteFile)
    .describe('rtsp://host/path, http(s)://host/path (MJPEG stream or, with sourceType snapshot, a JPEG URL), file:<path> (relative to the config file) or alsa:<device> (sound only)'),
  sourceType: oneOf(SOURCE_TYPES).default('auto').describe('auto: from the scheme (http is an MJPEG stream unless snapshot)'),
  username: text().optional().describe('user for the camera (RTSP, HTTP Basic)'),
  password: secret().optional(),
  fps: num('a number 0.1-30').min(0.1).max(30).default(5).describe('analysed frames per second'),
  width: int(16, 4096).optional().describe('analysis width (default: fit the model input, else the source width up to 640, keeping the aspect)'),
  height: int(16, 4096).optional().describe('analysis height (default: keeps the aspect)'),
  rtspTransport: oneOf(['tcp', 'udp']).default('tcp'),
  loop: bool().default(false).describe('file sources: play the file in a loop'),
  timeout: duration('100ms', '1m').prefault('5s').describe('snapshot: request timeout; streams: connect/read timeout'),
  reconnect: z.strictObject({
    min: duration('100ms', '1h').prefault('1s'),
    max: duration('100ms', '1d').prefault('30s'),
  }, { error: expected('a mapping { min, max }') }).prefault({}).describe('backoff between reconnects (exponential with jitter)'),
  stallTimeout: duration('500ms', '10m').prefault('10s').describe('no frame for this long: the stream is restarted (a new connection has timeout more for its first frame)'),
  lostAfter: duration('500ms', '1d').prefault('15s').describe('stream down this long: device offline, video.stream raised'),
  statsInterval: duration('500ms', '1h').prefault('10s').describe('how often fps and frames_dropped are reported'),

  // Analytics (models/types.ts CameraAnalyticsConfig)
  model: text('a model name').optional().describe('registered detection model; absent: motion-only analytics'),
  thresholds: z.record(z.string(), unit('a score 0..1'), { error: expected('a mapping of class: score') }).default({})
    .describe('minimum score per class; `default` for the rest (default 0.5)'),
  classes: labels().optional().describe('class names overriding the model manifest\'s'),
  motion: motionSchema.prefault({}),
  zones: z.array(zoneSchema, { error: expected('a list of zones') }).default([]),
  lines: z.array(lineSchema, { error: expected('a list of lines') }).default([]),
  crossing: crossingSchema.optional(),
  falling: fallingSchema.optional(),
  structuring: bool().default(false).describe('one video.track event per ended track'),
  plates: platesSchema.optional(),
  trackTimeout: seconds('100ms', '1m').prefault('2s').describe('a track ends after this long unseen'),

  audio: audioSchema.prefault({}),
  evidence: evidenceSchema.prefault({}),
});
// The config loader builds its device schema from the shape above and runs the checks across
// fields through the family's `check` (definition.ts); a direct parse runs them here.
export const cameraDeviceSchema = cameraSchema.superRefine((d, ctx) => {
  for (const i of cameraIssues(d)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
});

type Fields = z.infer<typeof cameraSchema>;

/** Checks across fields: source vs sourceType, unique names, zone references, line sanity. */
export function cameraIssues(d: Fields): DeviceIssue[] {
  const issues: DeviceIssue[] = [];
  const bad = (p: (string | number)[], message: string) => void issues.push({ path: p, message });
  const kind = sourceKindOf(d.source, d.sourceType);
  if (kind.startsWith('!')) bad(kind.startsWith('!type') ? ['sourceType'] : ['source'], kind.slice(kind.indexOf(':') + 1).trim());
  else if (kind !== 'file' && kind !== 'alsa' && !URL.canParse(d.source)) bad(['source'], `not a valid URL: ${JSON.stringify(d.source.replace(/\/\/[^/@]*@/, '//***@').slice(0, 80))}`);
  else if (kind === 'alsa' && d.source.length <= 'alsa:'.length) bad(['source'], 'expected an ALSA device after alsa:, like alsa:hw:0');
  unique(d.zones, 'zone', ['zones'], bad);
  unique(d.lines, 'line', ['lines'], bad);
  const zones = [...new Set(d.zones.map((z) => z.name))];
  const known = zones.length ? `zones: ${zones.join(', ')}` : 'no zones are defined';
  if (d.crossing && !zones.includes(d.crossing.zone)) bad(['crossing', 'zone'], `unknown zone "${d.crossing.zone}" (${known})`);
  if (d.crossing?.approachZone !== undefined && !zones.includes(d.crossing.approachZone)) {
    bad(['crossing', 'approachZone'], `unknown zone "${d.crossing.approachZone}" (${known})`);
  }
  d.lines.forEach((l, i) => {
    if (l.from[0] === l.to[0] && l.from[1] === l.to[1]) bad(['lines', i, 'to'], 'a line needs two different points');
    if (l.directions[0] === l.directions[1]) bad(['lines', i, 'directions'], 'the two directions need different names');
  });
  if (d.plates?.on === 'region' && !d.plates.region) bad(['plates', 'region'], 'missing required field (plates.on is region)');
  if (d.reconnect.max < d.reconnect.min) bad(['reconnect', 'max'], `expected at least reconnect.min (${d.reconnect.min} ms), got ${d.reconnect.max} ms`);
  if (kind === 'alsa' && d.audio.source !== 'camera') bad(['audio', 'source'], 'the device source is already a microphone');
  if (kind === 'snapshot' && d.audio.enabled && d.audio.source === 'camera') bad(['audio', 'source'], 'a snapshot URL has no sound: use an alsa: source or turn audio off');
  return issues;
}

function unique(items: { name: string }[], what: string, at: (string | number)[], bad: (p: (string | number)[], m: string) => void) {
  const seen = new Map<string, number>();
  items.forEach((it, i) => {
    const first = seen.get(it.name);
    if (first !== undefined) bad([...at, i, 'name'], `duplicate ${what} name "${it.name}" (also ${at.join('.')}[${first}])`);
    else seen.set(it.name, i);
  });
}

/** The source kind, or "!source: ..." / "!type: ..." naming a mismatch. */
function sourceKindOf(source: string, type: (typeof SOURCE_TYPES)[number]): SourceKind | `!${string}` {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source)?.[1]?.toLowerCase();
  const want = (k: SourceKind, schemes: string[]) =>
    scheme && schemes.includes(scheme) ? k : (`!type: sourceType ${type} needs a ${schemes.map((s) => `${s}:`).join(' or ')} source, got "${scheme ?? source}"` as const);
  switch (type) {
    case 'rtsp': return want('rtsp', ['rtsp', 'rtsps']);
    case 'mjpeg': return want('mjpeg', ['http', 'https']);
    case 'snapshot': return want('snapshot', ['http', 'https']);
    case 'file': return want('file', ['file']);
  }
  if (scheme === 'rtsp' || scheme === 'rtsps') return 'rtsp';
  if (scheme === 'http' || scheme === 'https') return 'mjpeg';
  if (scheme === 'file') return 'file';
  if (scheme === 'alsa') return 'alsa';
  return `!source: expected rtsp://, http(s)://, file:<path> or alsa:<device>, got "${scheme ? `${scheme}:` : source.slice(0, 40)}..."`;
}

export type CameraConfig = DeviceBase & z.infer<typeof cameraSchema>;

/** The resolved source: kind, and for files the absolute path (relative to the config file). */
export interface CameraSource {
  kind: SourceKind;
  /** URL (credentials not inside unless the operator wrote them there), absolute file path or ALSA device. */
  target: string;
}

/**
 * A `file:` source relative to the config file becomes absolute while the config is parsed
 * (the loader parses inside withConfigDir), so it never depends on the agent's working directory.
 */
function absoluteFile(source: string): string {
  const m = /^file:(.*)$/is.exec(source);
  if (!m || path.isAbsolute(m[1].replace(/^\/\/(?=\/)/, ''))) return source;
  return `file:${path.resolve(configDir() ?? process.cwd(), m[1])}`;
}

/** Resolves `source` (file paths relative to baseDir; the schema already made them absolute). */
export function resolveSource(d: Pick<CameraConfig, 'source' | 'sourceType'>, baseDir = configDir() ?? process.cwd()): CameraSource {
  const kind = sourceKindOf(d.source, d.sourceType);
  if (kind.startsWith('!')) throw new Error(kind.slice(kind.indexOf(':') + 1).trim());
  const k = kind as SourceKind;
  if (k === 'file') return { kind: k, target: path.resolve(baseDir, d.source.replace(/^file:(\/\/(?=\/))?/i, '')) };
  if (k === 'alsa') return { kind: k, target: d.source.slice('alsa:'.length) };
  return { kind: k, target: d.source };
}

const sec = (ms: number) => ms / 1000;

/** What models/ takes for this device: analytics, sound (when on) and evidence settings. */
export function cameraModelsConfig(d: Fields): { analytics: CameraAnalyticsConfig; audio?: AudioConfig; evidence: EvidenceConfig } {
  const analytics: CameraAnalyticsConfig = {
    ...(d.model !== undefined && { model: d.model }),
    thresholds: { default: 0.5, ...d.thresholds },
    ...(d.classes && { classes: [...d.classes] }),
    motion: { threshold: d.motion.threshold, minArea: d.motion.minArea, fullFrameEverySeconds: sec(d.motion.fullFrameEvery) },
    zones: d.zones.map((z) => ({
      name: z.name,
      polygon: z.polygon.map((p) => [p[0], p[1]] as Point2),
      ...(z.classes && { classes: [...z.classes] }),
      ...(z.dwell !== undefined && { dwellSeconds: sec(z.dwell) }),
    })),
    lines: d.lines.map((l) => ({
      name: l.name, from: [l.from[0], l.from[1]], to: [l.to[0], l.to[1]], directions: [l.directions[0], l.directions[1]],
      ...(l.classes && { classes: [...l.classes] }),
    })),
    ...(d.crossing && {
      crossing: {
        zone: d.crossing.zone, pedestrians: [...d.crossing.pedestrians], vehicles: [...d.crossing.vehicles], holdSeconds: sec(d.crossing.hold),
        ...(d.crossing.approachZone !== undefined && { approachZone: d.crossing.approachZone }),
      },
    }),
    ...(d.falling && { falling: { region: d.falling.region.map((p) => [p[0], p[1]] as Point2), minDrop: d.falling.minDrop, threshold: d.falling.threshold } }),
    structuring: d.structuring,
    ...(d.plates && {
      plates: { on: d.plates.on, vehicles: [...d.plates.vehicles], minConfidence: d.plates.minConfidence, ...(d.plates.region && { region: { ...d.plates.region } }) },
    }),
    trackTimeoutSeconds: sec(d.trackTimeout),
  };
  const a = d.audio;
  const audioOn = a.enabled || sourceKindOf(d.source, d.sourceType) === 'alsa';
  const audio: AudioConfig | undefined = audioOn
    ? { sampleRate: a.sampleRate, hornBand: [a.hornBand[0], a.hornBand[1]], hornMinSeconds: sec(a.hornMin), hornMinDb: a.hornMinDb, calibrationDb: a.calibrationDb }
    : undefined;
  const e = d.evidence;
  return { analytics, ...(audio && { audio }), evidence: { enabled: e.enabled, blur: [...e.blur], mode: e.mode, maxBytes: e.maxBytes, quality: e.quality } };
}

export const CAMERA_DESCRIPTION = 'Pole camera (RTSP, HTTP MJPEG, JPEG snapshot or a file): video analytics, sound levels and horns, redacted evidence';
