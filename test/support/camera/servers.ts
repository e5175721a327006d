// Camera-side test servers on 127.0.0.1: an HTTP MJPEG stream (multipart/x-mixed-replace, what
// most IP cameras serve at /mjpeg or /video.cgi) and an HTTP snapshot URL (one JPEG per GET),
// both with optional HTTP Basic auth and a forced status (401, 404). JPEGs are real, made by
// sharp. Run as a program (`node servers.ts mjpeg <port>`) the MJPEG server is a separate
// process a test can kill -9 and restart on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface CameraServerOptions {
  port?: number;
  /** Required credentials (HTTP Basic); absent = open. */
  auth?: { user: string; pass: string };
  /** Answer every request with this status (401, 404) instead of images. */
  status?: number;
  fps?: number;
  width?: number;
  height?: number;
}

export interface CameraServer {
  port: number;
  url(path?: string): string;
  /** Requests seen, with their Authorization header. */
  requests: { path: string; authorization?: string }[];
  /** Stop sending frames while keeping connections open (a frozen camera). */
  pause(on: boolean): void;
  setStatus(status: number | undefined): void;
  close(): Promise<void>;
}

/** `n` distinct JPEGs (a moving bar on a gradient) of the given size. */
export async function makeJpegs(n: number, width = 320, height = 240): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const raw = Buffer.alloc(width * height * 3);
    const bar = Math.floor((i / n) * width);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        const on = Math.abs(x - bar) < 12;
        raw[o] = on ? 255 : (x * 255) / width;
        raw[o + 1] = on ? 255 : (y * 255) / height;
        raw[o + 2] = on ? 255 : 64;
      }
    }
    out.push(await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 70 }).toBuffer());
  }
  return out;
}

function authorized(req: IncomingMessage, auth: CameraServerOptions['auth']): boolean {
  if (!auth) return true;
  return req.headers.authorization === `Basic ${Buffer.from(`${auth.user}:${auth.pass}`).toString('base64')}`;
}

async function serve(kind: 'mjpeg' | 'snapshot', o: CameraServerOptions): Promise<CameraServer> {
  const jpegs = await makeJpegs(10, o.width, o.height);
  const period = 1000 / (o.fps ?? 10);
  let status = o.status;
  let paused = false;
  const requests: CameraServer['requests'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const refuse = (res: ServerResponse, code: number) => {
    res.writeHead(code, code === 401 ? { 'www-authenticate': 'Basic realm="camera"', 'content-type': 'text/plain' } : { 'content-type': 'text/plain' });
    res.end(code === 401 ? 'Unauthorized\n' : code === 404 ? 'Not Found\n' : 'Error\n');
  };
  const server: Server = createServer((req, res) => {
    requests.push({ path: req.url ?? '/', ...(req.headers.authorization && { authorization: req.headers.authorization }) });
    if (status) return refuse(res, status);
    if (!authorized(req, o.auth)) return refuse(res, 401);
    if (kind === 'snapshot') {
      const jpg = jpegs[requests.length % jpegs.length];
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpg.length });
      return void res.end(jpg);
    }
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=frame', 'cache-control': 'no-cache', connection: 'close' });
    let i = 0;
    const t = setInterval(() => {
      if (paused) return;
      const jpg = jpegs[i++ % jpegs.length];
      res.write(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpg.length}\r\n\r\n`);
      res.write(jpg);
      res.write('\r\n');
    }, period);
    timers.add(t);
    res.on('close', () => (clearInterval(t), timers.delete(t)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path = kind === 'mjpeg' ? '/mjpeg' : '/snapshot.jpg') => `http://127.0.0.1:${port}${path}`,
    requests,
    pause: (on) => void (paused = on),
    setStatus: (s) => void (status = s),
    async close() {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export const mjpegServer = (o: CameraServerOptions = {}) => serve('mjpeg', o);
export const snapshotServer = (o: CameraServerOptions = {}) => serve('snapshot', o);

// As a program: an MJPEG server in its own process (to be killed with SIGKILL).
if (import.meta.main) {
  const port = Number(process.argv[3] ?? 0);
  const fps = Number(process.argv[4] ?? 10);
  const s = await serve(process.argv[2] === 'snapshot' ? 'snapshot' : 'mjpeg', { port, fps });
  process.stdout.write(`listening ${s.port}\n`);
}
