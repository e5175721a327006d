// The camera's config through the real config loader (errors naming the field path, the docs'
// example), the models config it produces, the points it implies, and the pure parts of the
// source: stderr reasons, PPM framing, backoff.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../runtime/config/loader.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { builtinDrivers } from '../index.ts';
import { cameraFamily, cameraPoints } from './definition.ts';
import { createPpmCutter, scaleFilter, videoArgs } from './ffmpeg.ts';
import { cameraDeviceSchema, cameraModelsConfig, cameraSchema, resolveSource, type CameraConfig } from './schema.ts';
import { backoffDelay } from './source.ts';
import { classifyLine, createStderrTail, redact } from './stderr.ts';
import { sourceUrl } from './index.ts';

const registry = createDriverRegistry([...builtinDrivers(), cameraFamily({ models: () => undefined })]);
const yaml = (device: string) => `version: 1\ngateway: { id: gw-1 }\nuplink: { enabled: false }\ndevices:\n${device}\n`;
const load = (device: string, env: NodeJS.ProcessEnv = {}) => parseConfig(yaml(device), '/etc/wayside/wayside.yaml', registry, env);
const err = (device: string): string => {
  try {
    load(device);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};
const cam = (fields: string) => `  - { id: cam, driver: camera, source: "rtsp://10.0.0.2/live", ${fields} }`;

describe('camera config', () => {
  it('defaults: 5 fps, tcp, backoff 1-30 s, evidence off with person/plate/face blurred and 256 MiB, no upload', () => {
    const d = load(cam('zones: []')).devices[0] as unknown as CameraConfig;
    expect(d).toMatchObject({
      sourceType: 'auto', fps: 5, rtspTransport: 'tcp', reconnect: { min: 1000, max: 30_000 }, stallTimeout: 10_000, lostAfter: 15_000,
      evidence: { enabled: false, blur: ['person', 'plate', 'face'], mode: 'blur', maxBytes: 256 * 2 ** 20, quality: 80, upload: false },
      audio: { enabled: false, source: 'camera', sampleRate: 16000 },
    });
    expect(d.width).toBeUndefined();
  });

  it('names the path of a bad polygon, an unknown crossing zone, a coordinate out of 0..1', () => {
    expect(err(cam('zones: [{ name: a, polygon: [[0, 0], [1, 1]] }]'))).toContain('devices[0].zones[0].polygon: expected a polygon of at least 3 points [x, y], got 2');
    expect(err(cam('zones: [{ name: a, polygon: [[0, 0], [1, 0], [1, 1]] }], crossing: { zone: zebra }'))).toContain('devices[0].crossing.zone: unknown zone "zebra" (zones: a)');
    expect(err(cam('crossing: { zone: zebra }'))).toContain('devices[0].crossing.zone: unknown zone "zebra" (no zones are defined)');
    expect(err(cam('lines: [{ name: l, from: [1.2, 0], to: [0, 1] }]'))).toMatch(/devices\[0\]\.lines\[0\]\.from(\.0|\[0\]): expected a coordinate 0\.\.1, got 1\.2/);
    expect(err(cam('zones: [{ name: a, polygon: [[0, 0], [1, 0], [1, -0.1]] }]'))).toMatch(/devices\[0\]\.zones\[0\]\.polygon(\.2\.1|\[2\]\[1\]): expected a coordinate 0\.\.1, got -0\.1/);
    expect(err(cam('falling: { region: [[0, 0], [1, 0]] }'))).toContain('devices[0].falling.region: expected a region of at least 3 points');
  });

  it('refuses duplicate names, equal directions, a plates region missing, a scheme that contradicts sourceType', () => {
    const p = '[[0, 0], [1, 0], [1, 1]]';
    expect(err(cam(`zones: [{ name: a, polygon: ${p} }, { name: a, polygon: ${p} }]`))).toContain('devices[0].zones[1].name: duplicate zone name "a" (also zones[0])');
    expect(err(cam('lines: [{ name: l, from: [0, 0], to: [1, 1] }, { name: l, from: [0, 0], to: [1, 1] }]'))).toContain('devices[0].lines[1].name: duplicate line name "l"');
    expect(err(cam('lines: [{ name: l, from: [0, 0], to: [1, 1], directions: [in, in] }]'))).toContain('devices[0].lines[0].directions: the two directions need different names');
    expect(err(cam('zones: [{ name: "a.b", polygon: [[0, 0], [1, 0], [1, 1]] }]'))).toContain('devices[0].zones[0].name: expected a zone name');
    expect(err(cam('plates: { on: region }'))).toContain('devices[0].plates.region: missing required field');
    expect(err(cam('sourceType: snapshot'))).toContain('devices[0].sourceType: sourceType snapshot needs a http: or https: source, got "rtsp"');
    expect(err('  - { id: cam, driver: camera, source: "ftp://x/y" }')).toContain('devices[0].source: expected rtsp://, http(s)://, file:<path> or alsa:<device>');
    expect(err('  - { id: cam, driver: camera, source: "rtsp://u:pw@[bad/live" }')).toContain('devices[0].source: not a valid URL: "rtsp://***@[bad/live"');
    expect(err(cam('reconnect: { min: 10s, max: 2s }'))).toContain('devices[0].reconnect.max: expected at least reconnect.min');
    expect(err(cam('fps: 60'))).toContain('devices[0].fps');
    expect(err(cam('evidnce: { enabled: true }'))).toContain('unknown field "evidnce" (did you mean "evidence"?)');
  });

  it('a direct parse (cameraDeviceSchema) runs the same checks across fields', () => {
    const r = cameraDeviceSchema.safeParse({ source: 'rtsp://x/y', crossing: { zone: 'z' } });
    expect(r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['crossing.zone: unknown zone "z" (no zones are defined)']);
  });

  it('resolves file: sources against the config file, not the working directory', () => {
    const d = load('  - { id: cam, driver: camera, source: "file:clips/a.mp4" }').devices[0] as unknown as CameraConfig;
    expect(resolveSource(d)).toEqual({ kind: 'file', target: '/etc/wayside/clips/a.mp4' });
    const abs = cameraSchema.parse({ source: 'file:///srv/a.mp4' });
    expect(resolveSource(abs)).toEqual({ kind: 'file', target: '/srv/a.mp4' });
  });

  it('produces the models config: seconds, defaults filled in, sound only when on', () => {
    const d = cameraSchema.parse({
      source: 'alsa:hw:1', model: 'm', thresholds: { person: 0.3 }, trackTimeout: '3s', motion: { fullFrameEvery: '500ms' },
      zones: [{ name: 'z', polygon: [[0, 0], [1, 0], [1, 1]], dwell: 90 }], lines: [{ name: 'l', from: [0, 0.5], to: [1, 0.5] }],
      crossing: { zone: 'z', hold: '2s' }, evidence: { enabled: true, mode: 'box' },
    });
    const { analytics, audio, evidence } = cameraModelsConfig(d);
    expect(analytics).toEqual({
      model: 'm', thresholds: { default: 0.5, person: 0.3 }, motion: { threshold: 25, minArea: 0.002, fullFrameEverySeconds: 0.5 },
      zones: [{ name: 'z', polygon: [[0, 0], [1, 0], [1, 1]], dwellSeconds: 90 }],
      lines: [{ name: 'l', from: [0, 0.5], to: [1, 0.5], directions: ['in', 'out'] }],
      crossing: { zone: 'z', pedestrians: ['person'], vehicles: ['car', 'truck', 'bus', 'motorcycle', 'bicycle'], holdSeconds: 2 },
      structuring: false, trackTimeoutSeconds: 3,
    });
    // An alsa: source is sound only, so sound is on.
    expect(audio).toEqual({ sampleRate: 16000, hornBand: [300, 3500], hornMinSeconds: 0.5, hornMinDb: 85, calibrationDb: 120 });
    expect(evidence).toEqual({ enabled: true, blur: ['person', 'plate', 'face'], mode: 'box', maxBytes: 256 * 2 ** 20, quality: 80 });
    expect(cameraModelsConfig(cameraSchema.parse({ source: 'rtsp://x/y' })).audio).toBeUndefined();
  });

  it('lists the points the config implies, and refuses perPoint entries for others', () => {
    const d = { id: 'c', driver: 'camera', ...cameraSchema.parse({
      source: 'rtsp://x/y', classes: ['person', 'car'], audio: { enabled: true },
      zones: [{ name: 'walk', polygon: [[0, 0], [1, 0], [1, 1]], classes: ['person'] }, { name: 'road', polygon: [[0, 0], [1, 0], [1, 1]] }],
      lines: [{ name: 'kerb', from: [0, 0], to: [1, 0], directions: ['up', 'down'] }],
    }) };
    expect(cameraPoints(d)!.map((p) => p.name)).toEqual([
      'fps', 'frames_dropped', 'motion', 'zone.walk.person', 'zone.road.person', 'zone.road.car', 'line.kerb.up', 'line.kerb.down', 'sound.laeq', 'sound.lamax',
    ]);
    expect(cameraPoints(d)!.every((p) => !p.writable)).toBe(true);
    // A zone counting "all the model's classes" with no classes named: only the model knows them.
    expect(cameraPoints({ ...d, classes: undefined })).toBeUndefined();
    expect(cameraPoints({ id: 'm', driver: 'camera', ...cameraSchema.parse({ source: 'alsa:hw:0' }) })!.map((p) => p.name)).toEqual(['sound.laeq', 'sound.lamax']);
    expect(err('  - id: cam\n    driver: camera\n    source: rtsp://10.0.0.2/live\n    perPoint: { fsp: { publish: raw } }')).toContain('unknown point "fsp" of device "cam" (did you mean "fps"?)');
  });

  it('docs/drivers/camera.md: the example loads through the real loader', () => {
    const doc = readFileSync(new URL('../../docs/drivers/camera.md', import.meta.url), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks).toHaveLength(1);
    const cfg = parseConfig(`version: 1\ngateway: { id: gw-1 }\nuplink: { enabled: false }\n${blocks[0]}`, 'camera.md', registry, { CAM_NORTH_PASSWORD: 'pw' });
    const d = cfg.devices[0] as unknown as CameraConfig;
    expect(d).toMatchObject({ id: 'cam-north', driver: 'camera', password: 'pw', evidence: { enabled: true, maxBytes: 512 * 2 ** 20, upload: false } });
    const { analytics } = cameraModelsConfig(d);
    expect(analytics.crossing).toMatchObject({ zone: 'crossing', approachZone: 'approach' });
    expect(analytics.zones.find((z) => z.name === 'bus-stop')!.dwellSeconds).toBe(600);
    expect(cameraPoints(d)!.map((p) => p.name)).toContain('line.kerb.onto_road');
  });
});

describe('camera source parts', () => {
  it('classifies ffmpeg stderr lines into reasons', () => {
    expect(classifyLine('[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized')).toBe('auth');
    expect(classifyLine('http://127.0.0.1:1/x: Server returned 404 Not Found')).toBe('not_found');
    expect(classifyLine('/tmp/none.mp4: No such file or directory')).toBe('not_found');
    expect(classifyLine('rtsp://10.0.0.2/live: Connection refused')).toBe('unreachable');
    expect(classifyLine('[tcp @ 0x1] Connection to tcp://10.0.0.2:554 failed: Connection timed out')).toBe('unreachable');
    expect(classifyLine('g.mp4: Invalid data found when processing input')).toBe('codec');
    expect(classifyLine('[mov,mp4 @ 0x1] moov atom not found')).toBeUndefined();
  });

  it('keeps a bounded stderr tail, the first known reason, and never a password', () => {
    const t = createStderrTail(3);
    t.push('[mov @ 1] moov atom not found\nrtsp://admin:hunter2@cam/live: 401 Unauthorized\n');
    for (let i = 0; i < 1000; i++) t.push(`noise ${i} ${'x'.repeat(1000)}\n`);
    t.push('a partial line with no end'.repeat(1000));
    expect(t.lines()).toHaveLength(4);
    expect(t.lines().every((l) => l.length <= 300)).toBe(true);
    expect(t.fault({ reason: 'other', message: 'exit 1' })).toEqual({ reason: 'auth', message: 'rtsp://***@cam/live: 401 Unauthorized' });
    const u = createStderrTail();
    u.push('something odd\n');
    expect(u.fault({ reason: 'other', message: 'ffmpeg exited with code 1' })).toEqual({ reason: 'other', message: 'something odd' });
    expect(createStderrTail().fault({ reason: 'stalled', message: 'no data for 10 s' })).toEqual({ reason: 'stalled', message: 'no data for 10 s' });
    expect(redact('http://u:p@h/x and rtsp://only-user@h/y')).toBe('http://***@h/x and rtsp://***@h/y');
  });

  it('cuts PPM frames by exact size across any chunking', () => {
    const frame = (w: number, h: number, v: number) => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.alloc(w * h * 3, v)]);
    const stream = Buffer.concat([frame(4, 2, 1), frame(4, 2, 2), frame(3, 3, 3)]);
    for (const step of [1, 7, 13, stream.length]) {
      const got: string[] = [];
      const c = createPpmCutter((d, w, h) => got.push(`${w}x${h}:${d.length}:${d.every((b) => b === d[0]) ? d[0] : 'mixed'}`));
      for (let i = 0; i < stream.length; i += step) c.push(stream.subarray(i, i + step));
      expect(got).toEqual(['4x2:24:1', '4x2:24:2', '3x3:27:3']);
    }
    expect(() => createPpmCutter(() => {}).push(Buffer.from('GIF89a...'))).toThrow(/not a PPM frame/);
  });

  it('builds the ffmpeg command: transport, fps, scale, files with -re and loop', () => {
    const src = { kind: 'rtsp' as const, target: 'rtsp://cam/live' };
    const a = videoArgs({ source: src, url: 'rtsp://u:p@cam/live', fps: 5, size: { width: 640 }, rtspTransport: 'tcp', loop: false, timeoutMs: 5000 });
    expect(a.join(' ')).toBe('-hide_banner -loglevel error -nostdin -rtsp_transport tcp -timeout 5000000 -i rtsp://u:p@cam/live -an -sn -dn -vf fps=5,scale=640:-2 -f image2pipe -c:v ppm -pix_fmt rgb24 pipe:1');
    const f = videoArgs({ source: { kind: 'file', target: '/c.mp4' }, url: '', fps: 2, size: {}, rtspTransport: 'tcp', loop: true, timeoutMs: 5000 });
    expect(f.slice(3, 8)).toEqual(['-nostdin', '-re', '-stream_loop', '-1', '-i']);
    expect(scaleFilter({ fit: { width: 640, height: 640 } })).toBe('scale=w=640:h=640:force_original_aspect_ratio=decrease');
    expect(scaleFilter({ width: 320, height: 200 })).toBe('scale=320:200');
  });

  it('puts the device credentials into the URL for ffmpeg (escaped), unless the URL has its own', () => {
    const c = (u: string) => sourceUrl({ username: 'ad min', password: 'p@ss:w/rd' }, { kind: 'rtsp', target: u });
    expect(c('rtsp://cam:554/live')).toBe('rtsp://ad%20min:p%40ss%3Aw%2Frd@cam:554/live');
    expect(c('rtsp://me:x@cam/live')).toBe('rtsp://me:x@cam/live');
    expect(sourceUrl({}, { kind: 'rtsp', target: 'rtsp://cam/live' })).toBe('rtsp://cam/live');
  });

  it('backs off exponentially with jitter between min and max', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => backoffDelay(n, 1000, 30_000, mid))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(backoffDelay(0, 1000, 30_000, () => 0)).toBe(800);
    expect(backoffDelay(0, 1000, 30_000, () => 0.999)).toBeLessThanOrEqual(1200);
    expect(backoffDelay(20, 1000, 30_000, () => 0.999)).toBe(30_000);
  });
});
