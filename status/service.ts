// The `status-page` service: the local status page for the field technician at /status on the
// agent's HTTP server (where http.host/http.port say), off unless `status.enabled`. Behind a
// login (status/auth.ts); what it shows comes from the health document and the bus
// (status/live.ts), live over server-sent events coalesced to at most 2 updates a second; a
// "read now" button per device (the devices service's readNow) and a camera's last frame with
// its boxes. (Named `status-page`: `status` is a field of the health document.)
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WriteError } from '../runtime/errors.ts';
import type { HttpServer } from '../runtime/http.ts';
import type { Service, ServiceCtx, ServiceHealth } from '../runtime/service.ts';
import type { DeviceSnapshot } from '../runtime/types.ts';
import { createAuth, sameOrigin, sameText, type Auth, type Session } from './auth.ts';
import { STATUS_PATH, STATUS_SECTION, statusConfig } from './config.ts';
import { createLive, type Live } from './live.ts';
import { appPage, CSP, CSS, JS, loginPage } from './page.ts';
import { createSseHub, type SseHub } from './sse.ts';

/** What the page needs of the devices service (drivers/service.ts). */
export interface StatusDevices {
  readNow(device: string): Promise<void>;
  snapshot(device: string): Promise<DeviceSnapshot | undefined>;
}

export const FLUSH_MS = 500;
const BODY_MAX = 4096;

export interface StatusService extends Service {
  /** Where the page is served, when running (tests). */
  url(): string | undefined;
}

/** `devices` defaults to the running `devices` service (ctx.service). */
export function createStatusService(opts: { devices?: () => StatusDevices | undefined } = {}): StatusService {
  let ctx: ServiceCtx | undefined;
  let run: { http: HttpServer; auth: Auth; live: Live; hub: SseHub; flush: NodeJS.Timeout; shots: Map<string, DeviceSnapshot> } | undefined;

  const devices = (): StatusDevices | undefined => opts.devices?.() ?? (ctx?.service?.('devices') as (StatusDevices & Service) | undefined);

  const start = async (c: ServiceCtx): Promise<void> => {
    ctx = c;
    const cfg = statusConfig(c.config);
    if (!cfg.enabled) {
      c.log.debug('status page off (status.enabled: false)');
      return;
    }
    if (!c.http) throw new Error('the status page needs the HTTP server: set http.enabled: true (or status.enabled: false)');
    const auth = createAuth({ users: cfg.users, ttlMs: cfg.sessionTtl, mono: () => c.clock.mono() });
    const live = createLive({ bus: c.bus, owner: 'status-page', health: () => c.health() as never, site: c.config.gateway.site, now: () => c.clock.now() });
    const hub = createSseHub();
    auth.onEnd((id) => hub.closeSession(id));
    live.start();
    const flush = setInterval(() => {
      try {
        auth.sweep();
        const d = live.delta();
        if (d && hub.count()) hub.send('delta', d);
      } catch (err) {
        c.log.warn({ err: (err as Error).message }, 'status update failed');
      }
    }, FLUSH_MS);
    flush.unref();
    run = { http: c.http, auth, live, hub, flush, shots: new Map() };
    c.http.mount(STATUS_PATH, (req, res) => {
      handle(req, res).catch((err: unknown) => {
        c.log.error({ err: (err as Error)?.message ?? String(err), url: req.url }, 'status page request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.end();
      });
    });
    const { host, port } = c.http.address();
    const loopback = host === '::1' || host.startsWith('127.') || host === 'localhost';
    c.log.info({ host, port, path: STATUS_PATH, users: cfg.users.length }, 'status page served');
    if (!loopback) c.log.warn({ host }, `status page ${STATUS_PATH} is served over plain HTTP on ${host}: keep the pole LAN closed, logins cross it in clear`);
  };

  const stop = async (): Promise<void> => {
    const r = run;
    run = undefined;
    if (!r) return;
    clearInterval(r.flush);
    r.http.unmount(STATUS_PATH);
    r.live.stop();
    r.hub.close();
  };

  // ---- requests

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const r = run!;
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.slice(STATUS_PATH.length) || '/';
    const method = req.method ?? 'GET';
    const gateway = ctx!.config.gateway.id;

    if (method === 'GET' && path === '/app.css') return send(res, 200, 'text/css; charset=utf-8', CSS);
    if (method === 'GET' && path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', JS);
    if (path === '/login') {
      if (method === 'GET') {
        if (r.auth.session(req)) return redirect(res, `${STATUS_PATH}/`);
        const e = url.searchParams.get('e') ?? undefined;
        return send(res, 200, 'text/html; charset=utf-8', loginPage(gateway, e));
      }
      if (method === 'POST') return login(req, res, r.auth);
    }
    if (method === 'POST' && path === '/logout') {
      const s = action(req, res, r.auth);
      if (!s) return;
      r.auth.logout(s.id);
      res.setHeader('set-cookie', r.auth.cookie(undefined));
      ctx!.log.info({ audit: 'status.logout', username: s.username, ip: req.socket.remoteAddress }, 'status page logout');
      return send(res, 204, 'text/plain', '');
    }

    const s = r.auth.session(req);
    if (method === 'GET' && (path === '/' || path === '')) {
      if (!s) return redirect(res, `${STATUS_PATH}/login`);
      return send(res, 200, 'text/html; charset=utf-8', appPage(gateway, s.csrf, s.username));
    }
    if (!s) return json(res, 401, { error: { code: 'login_required', message: `log in at ${STATUS_PATH}/login` } });
    if (method === 'GET' && path === '/events') {
      r.hub.open(res, s.id, { event: 'view', data: r.live.view() });
      return;
    }
    if (method === 'GET' && path === '/api/state') return json(res, 200, { ...r.live.view(), csrf: s.csrf, user: s.username });

    const read = /^\/api\/devices\/([^/]+)\/read$/.exec(path);
    if (read && method === 'POST') {
      if (!action(req, res, r.auth)) return;
      return readNow(res, decodeURIComponent(read[1]), s);
    }
    const cam = /^\/camera\/([^/]+)\.(json|jpg)$/.exec(path);
    if (cam && method === 'GET') return camera(res, decodeURIComponent(cam[1]), cam[2] as 'json' | 'jpg', url.searchParams.get('ts'));
    return json(res, 404, { error: { code: 'not_found', message: `no ${method} ${STATUS_PATH}${path}` } });
  };

  const login = async (req: IncomingMessage, res: ServerResponse, auth: Auth): Promise<void> => {
    const wantsJson = /application\/json/.test(req.headers.accept ?? '');
    const ip = req.socket.remoteAddress ?? 'unknown';
    const refuse = (code: string, status: number) =>
      wantsJson ? json(res, status, { ok: false, error: { code } }) : redirect(res, `${STATUS_PATH}/login?e=${code}`);
    if (!sameOrigin(req)) {
      ctx!.log.warn({ audit: 'status.login.fail.origin', ip, origin: req.headers.origin }, 'status page login refused: from another site');
      return refuse('origin', 403);
    }
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { ok: false, error: { code: 'too_large' } });
    const form = /application\/json/.test(req.headers['content-type'] ?? '') ? safeJson(body) : Object.fromEntries(new URLSearchParams(body));
    const username = typeof form.username === 'string' ? form.username.slice(0, 64) : '';
    const password = typeof form.password === 'string' ? form.password.slice(0, 256) : '';
    const r = await auth.login(username, password, ip);
    if ('refused' in r) {
      const fields = { audit: `status.login.fail.${r.refused === 'credentials' ? 'credentials' : 'too-many-attempts'}`, username, ip, failures: auth.failures(ip) };
      ctx!.log.warn(fields, r.refused === 'credentials' ? 'status page login failed' : 'status page login refused: too many failed logins from this address');
      return refuse(r.refused, r.refused === 'credentials' ? 401 : 429);
    }
    ctx!.log.info({ audit: 'status.login', username, ip }, 'status page login');
    res.setHeader('set-cookie', auth.cookie(r.session));
    if (wantsJson) return json(res, 200, { ok: true, csrf: r.session.csrf });
    redirect(res, `${STATUS_PATH}/`);
  };

  /** The session of an action (POST): same origin, logged in, CSRF token in `x-csrf-token`. */
  const action = (req: IncomingMessage, res: ServerResponse, auth: Auth): Session | undefined => {
    const s = auth.session(req);
    if (!s) return void json(res, 401, { ok: false, error: { code: 'login_required', message: 'log in again' } });
    const token = req.headers['x-csrf-token'];
    if (!sameOrigin(req) || typeof token !== 'string' || !sameText(token, s.csrf)) {
      ctx!.log.warn({ audit: 'status.csrf', username: s.username, ip: req.socket.remoteAddress, url: req.url }, 'status page action refused: missing or wrong CSRF token or origin');
      return void json(res, 403, { ok: false, error: { code: 'forbidden', message: 'missing or wrong CSRF token, or another origin' } });
    }
    return s;
  };

  const readNow = async (res: ServerResponse, device: string, s: Session): Promise<void> => {
    const d = devices();
    if (!d) return json(res, 503, { ok: false, error: { code: 'unavailable', message: 'the devices service is not running' } });
    ctx!.log.info({ audit: 'status.read', username: s.username, device }, 'read now');
    try {
      await d.readNow(device);
      json(res, 200, { ok: true, device });
    } catch (err) {
      const code = err instanceof WriteError ? err.code : 'read_failed';
      const message = (err as Error)?.message ?? String(err);
      // The request itself was fine: the device's answer (or its absence) is the result.
      json(res, code === 'unknown_device' ? 404 : 200, { ok: false, device, error: { code, message } });
    }
  };

  const camera = async (res: ServerResponse, device: string, kind: 'json' | 'jpg', ts: string | null): Promise<void> => {
    const r = run!;
    const d = devices();
    let shot = kind === 'jpg' && ts !== null ? r.shots.get(device) : undefined;
    if (shot && String(shot.ts) !== ts) shot = undefined;
    if (!shot) {
      try {
        shot = await d?.snapshot(device);
      } catch (err) {
        ctx!.log.warn({ device, err: (err as Error).message }, 'camera snapshot failed');
      }
    }
    if (kind === 'json') {
      if (!shot) return json(res, 200, { device, frame: false });
      r.shots.set(device, shot);
      return json(res, 200, { device, frame: true, ts: shot.ts, width: shot.width, height: shot.height, detections: shot.detections });
    }
    if (!shot) return json(res, 404, { error: { code: 'no_frame', message: `no frame of "${device}" yet` } });
    res.writeHead(200, { ...HEADERS, 'content-type': 'image/jpeg', 'content-length': shot.jpeg.length, 'x-frame-ts': String(shot.ts) });
    res.end(shot.jpeg);
  };

  return {
    name: 'status-page',
    start,
    stop,
    url() {
      if (!run) return undefined;
      const { host, port } = run.http.address();
      return `http://${host.includes(':') ? `[${host}]` : host}:${port}${STATUS_PATH}`;
    },
    health(): ServiceHealth {
      return { section: { enabled: !!run, sessions: run?.auth.count() ?? 0, streams: run?.hub.count() ?? 0 }, problems: [] };
    },
    async reconfigure(next, prev) {
      const a = JSON.stringify((next as unknown as Record<string, unknown>)[STATUS_SECTION]);
      const b = JSON.stringify((prev as unknown as Record<string, unknown>)[STATUS_SECTION]);
      if (a === b || !ctx) return;
      await stop();
      await start(ctx);
      return { restarted: ['status-page'] };
    },
  };
}

const HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin: the browser's Origin header on our own POSTs names us (no-referrer would make it "null").
  'referrer-policy': 'same-origin',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(303, { ...HEADERS, location: to, 'content-length': 0 });
  res.end();
}

/** The request body as text, or undefined past BODY_MAX bytes. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      n += c.length;
      if (n > BODY_MAX) {
        req.off('data', onData);
        req.resume(); // drain the rest; the answer is 413
        resolve(undefined);
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function safeJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
