// Evidence snapshots of analytic events, redacted ON THE BOX: the JPEG is built in memory from
// the raw frame with every box of a redacted label (person, plate, face by default) blurred or
// filled BEFORE encoding, so no unredacted byte ever reaches the disk, not even in a temporary
// file. Files are written atomically (hidden temp file, 0600, fsync, rename in the same folder),
// named `<ULID>-<camera>.jpg` (lexical order = time order) and the folder is capped at
// cfg.maxBytes, oldest first.
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
// sharp (libvips, ~15 MB of RSS) is imported when the first evidence image is written: the models
// service loads this module at start, and a gateway without cameras never needs it.
import { createIdGen } from '../runtime/ids.ts';
import type { Log } from '../runtime/types.ts';
import type { Detection, EvidenceConfig, EvidenceStore, RgbFrame } from './types.ts';

/** ULID (26 Crockford base32 characters), a dash, the camera id made filename-safe. */
const ID_RE = /^[0-9A-HJKMNP-TV-Z]{26}-[A-Za-z0-9_-]{1,64}$/;
const EXT = '.jpg';
const TMP_SUFFIX = '.tmp';

export interface EvidenceStats {
  files: number;
  bytes: number;
  written: number;
  evicted: number;
  /** Snapshots that could not be made or written (logged; the event goes on without evidence). */
  failed: number;
}

/** The camera id as it appears in evidence ids: [A-Za-z0-9_-], at most 64 characters. */
export function evidenceCameraTag(camera: string): string {
  return camera.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || '_';
}

/** Whether `id` has the shape of an evidence id (nothing else reaches the file system). */
export function isEvidenceId(id: string): boolean {
  return typeof id === 'string' && ID_RE.test(id);
}

export function createEvidenceStore(dir: string, cfg: EvidenceConfig, log?: Log): EvidenceStore & { stats(): EvidenceStats } {
  const newId = createIdGen();
  const blurLabels = new Set(cfg.blur);
  /** Stored files, oldest first (names sort by time). */
  const index: { name: string; bytes: number }[] = [];
  let bytes = 0, written = 0, evicted = 0, failed = 0;

  let initing: Promise<void> | undefined;
  function init(): Promise<void> {
    initing ??= (async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      for (const name of await readdir(dir)) {
        if (name.startsWith('.') && name.endsWith(TMP_SUFFIX)) {
          // A temp file left by a crash holds a complete or partial REDACTED JPEG; it was never renamed.
          await unlink(join(dir, name)).catch(() => {});
          continue;
        }
        if (!name.endsWith(EXT) || !ID_RE.test(name.slice(0, -EXT.length))) continue;
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (st?.isFile()) index.push({ name, bytes: st.size });
      }
      index.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      bytes = index.reduce((s, f) => s + f.bytes, 0);
      await evict();
    })();
    initing.catch(() => { initing = undefined; });
    return initing;
  }
  if (cfg.enabled) init().catch((err) => log?.warn({ err, dir }, 'evidence: cannot open the evidence folder'));

  /** Deletes the oldest files while over the cap; the newest file always stays. */
  async function evict(): Promise<void> {
    while (bytes > cfg.maxBytes && index.length > 1) {
      const old = index.shift()!;
      bytes -= old.bytes;
      evicted++;
      await unlink(join(dir, old.name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') log?.warn({ err, file: old.name }, 'evidence: cannot delete an old snapshot');
      });
    }
  }

  function add(name: string, size: number): void {
    let i = index.length;
    while (i > 0 && index[i - 1].name > name) i--; // saves of two cameras may finish out of order
    index.splice(i, 0, { name, bytes: size });
    bytes += size;
  }

  return {
    async save(frame: RgbFrame, boxes: Detection[], camera: string): Promise<string | undefined> {
      if (!cfg.enabled) return undefined;
      let tmp: string | undefined;
      try {
        const { width: W, height: H } = frame;
        if (!(W > 0 && H > 0) || frame.data.length !== W * H * 3) {
          throw new Error(`frame ${W}x${H} has ${frame.data.length} bytes, expected ${W * H * 3} (packed RGB)`);
        }
        const raw = Buffer.from(frame.data); // a copy: the caller's frame is not touched
        for (const d of boxes) {
          if (!blurLabels.has(d.label)) continue;
          const r = pixelRect(d.box, W, H);
          if (!r) continue;
          if (cfg.mode === 'box') fillRect(raw, W, r);
          else await blurRect(raw, W, H, r);
        }
        const sharp = (await import('sharp')).default;
        const jpeg = await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: cfg.quality }).toBuffer();
        await init();
        const id = `${newId(frame.ts)}-${evidenceCameraTag(camera)}`;
        const name = id + EXT;
        tmp = join(dir, `.${name}${TMP_SUFFIX}`);
        const fh = await open(tmp, 'wx', 0o600);
        try {
          await fh.writeFile(jpeg);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(tmp, join(dir, name));
        tmp = undefined;
        written++;
        add(name, jpeg.length);
        await evict();
        return id;
      } catch (err) {
        failed++;
        if (tmp) await unlink(tmp).catch(() => {});
        log?.warn({ err, camera, dir }, 'evidence: cannot save the snapshot; the event goes without it');
        return undefined;
      }
    },

    async read(id: string): Promise<Buffer | undefined> {
      if (!isEvidenceId(id)) throw new Error(`evidence: invalid id ${JSON.stringify(String(id).slice(0, 100))} (expected <ULID>-<camera>)`);
      try {
        return await readFile(join(dir, id + EXT));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`evidence: cannot read ${id} in ${dir}: ${(err as Error).message}`);
      }
    },

    stats(): EvidenceStats {
      return { files: index.length, bytes, written, evicted, failed };
    },
  };
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A normalized box in whole pixels, grown outward and clamped to the frame; undefined when empty. */
function pixelRect(box: { x: number; y: number; w: number; h: number }, W: number, H: number): Rect | undefined {
  if (![box.x, box.y, box.w, box.h].every(Number.isFinite)) return undefined;
  const x0 = Math.max(0, Math.floor(box.x * W)), y0 = Math.max(0, Math.floor(box.y * H));
  const x1 = Math.min(W, Math.ceil((box.x + box.w) * W)), y1 = Math.min(H, Math.ceil((box.y + box.h) * H));
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : undefined;
}

function fillRect(raw: Buffer, W: number, r: Rect): void {
  for (let y = r.y; y < r.y + r.h; y++) raw.fill(0, (y * W + r.x) * 3, (y * W + r.x + r.w) * 3);
}

/**
 * Irreversible blur of one rectangle, in place: the region is averaged down to cells (the
 * shorter side gets at most 6, a cell is at least 4 px), scaled back up smoothly and blurred
 * with σ of a third of a cell. Detail finer than a cell (faces, plate characters) is gone, not
 * just softened. Runs in sharp's worker threads.
 */
async function blurRect(raw: Buffer, W: number, H: number, r: Rect): Promise<void> {
  const cell = Math.max(4, Math.ceil(Math.min(r.w, r.h) / 6));
  const cw = Math.max(1, Math.round(r.w / cell)), ch = Math.max(1, Math.round(r.h / cell));
  const sharp = (await import('sharp')).default;
  const small = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
    .extract({ left: r.x, top: r.y, width: r.w, height: r.h })
    .resize(cw, ch, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer();
  const back = await sharp(small, { raw: { width: cw, height: ch, channels: 3 } })
    .resize(r.w, r.h, { fit: 'fill', kernel: 'cubic' })
    .blur(Math.max(0.5, cell / 3))
    .raw()
    .toBuffer();
  if (back.length !== r.w * r.h * 3) throw new Error(`blur of ${r.w}x${r.h} gave ${back.length} bytes`);
  for (let y = 0; y < r.h; y++) back.copy(raw, ((r.y + y) * W + r.x) * 3, y * r.w * 3, (y + 1) * r.w * 3);
}
