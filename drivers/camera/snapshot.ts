// HTTP snapshot cameras: one JPEG per request. A session polls the URL at the configured fps
// (each request with a timeout and HTTP Basic auth), decodes the answer with sharp to raw RGB
// at the analysis size, and ends at the first failure with its reason (401/403 auth, 404
// not_found, refused/timeout unreachable, undecodable body codec); the stream then reconnects
// with backoff like any other source.
import sharp from 'sharp';
import type { StreamFault } from './stderr.ts';
import type { Session, SessionHandlers } from './source.ts';
import type { VideoArgsOptions } from './ffmpeg.ts';

export interface SnapshotOptions {
  url: string;
  username?: string;
  password?: string;
  fps: number;
  timeoutMs: number;
  size: VideoArgsOptions['size'];
  /** Largest answer accepted (default 16 MiB): a misconfigured URL serving a video file is refused. */
  maxBytes?: number;
}

/** Decodes an encoded image to packed RGB24 at the analysis size (same rules as ffmpeg's scale). */
export async function decodeToRgb(img: Buffer, size: VideoArgsOptions['size']): Promise<{ data: Uint8Array; width: number; height: number }> {
  let s = sharp(img, { failOn: 'error' }).removeAlpha().toColourspace('srgb');
  if (size.width && size.height) s = s.resize(size.width, size.height, { fit: 'fill' });
  else if (size.width || size.height) s = s.resize(size.width, size.height);
  else if (size.fit) s = s.resize(size.fit.width, size.fit.height, { fit: 'inside' });
  else s = s.resize(640, undefined, { withoutEnlargement: true });
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded image has ${info.channels} channels`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

function faultOf(err: unknown, url: string): StreamFault {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? '';
  const msg = `${e.message}${e.cause?.message ? `: ${e.cause.message}` : ''}`;
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || /ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT/.test(code)) {
    return { reason: 'unreachable', message: `${url}: timed out` };
  }
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNRESET|UND_ERR_SOCKET/.test(code)) return { reason: 'unreachable', message: `${url}: ${code}` };
  return { reason: 'other', message: `${url}: ${msg}` };
}

export function snapshotSession(o: SnapshotOptions, h: SessionHandlers): Session {
  const ctl = new AbortController();
  const shown = o.url.replace(/([a-z]+:\/\/)[^/@\s]*@/i, '$1***@');
  const headers: Record<string, string> = {};
  if (o.username !== undefined || o.password !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${o.username ?? ''}:${o.password ?? ''}`).toString('base64')}`;
  }
  const periodMs = 1000 / o.fps;
  let killedFor: StreamFault | undefined;
  const sleep = (ms: number) => new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    ctl.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
  });

  const once = async (): Promise<StreamFault | undefined> => {
    let res: Response;
    try {
      res = await fetch(o.url, { headers, signal: AbortSignal.any([ctl.signal, AbortSignal.timeout(o.timeoutMs)]), redirect: 'follow' });
    } catch (err) {
      return ctl.signal.aborted ? undefined : faultOf(err, shown);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const line = `${shown}: HTTP ${res.status} ${res.statusText}`;
      if (res.status === 401 || res.status === 403) return { reason: 'auth', message: line };
      if (res.status === 404) return { reason: 'not_found', message: line };
      return { reason: 'other', message: line };
    }
    let body: Buffer;
    try {
      const len = Number(res.headers.get('content-length') ?? 0);
      if (len > (o.maxBytes ?? 16 * 2 ** 20)) {
        await res.body?.cancel().catch(() => {});
        return { reason: 'codec', message: `${shown}: answer of ${len} bytes is too large for a snapshot` };
      }
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      return ctl.signal.aborted ? undefined : faultOf(err, shown);
    }
    let img: Awaited<ReturnType<typeof decodeToRgb>>;
    try {
      img = await decodeToRgb(body, o.size);
    } catch (err) {
      return { reason: 'codec', message: `${shown}: not a decodable image (${res.headers.get('content-type') ?? 'no content-type'}): ${(err as Error).message}` };
    }
    if (!ctl.signal.aborted) h.frame(img.data, img.width, img.height);
    return undefined;
  };

  const done = (async () => {
    let next = performance.now();
    for (;;) {
      if (ctl.signal.aborted) return h.end(killedFor ?? { reason: 'ended', message: 'stopped' });
      const fault = await once();
      if (fault) return h.end(fault);
      next += periodMs;
      const wait = next - performance.now();
      if (wait < -periodMs) next = performance.now(); // slow camera: do not burst to catch up
      await sleep(Math.max(0, wait));
    }
  })();

  return {
    pid: undefined,
    kill(why) {
      killedFor ??= why;
      ctl.abort();
    },
    done,
  };
}
