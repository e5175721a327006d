// Editor logins, checked before Node-RED sees them. Node-RED throttles password logins per
// username for everyone at once (six tries in ten minutes lock that user out from anywhere),
// so anyone who reaches the editor could lock the admin out. Here a wrong login counts against
// the address it came from: after LOGIN_MAX_FAILURES in LOGIN_WINDOW_MS that address is refused
// (429) until its failures age out, while other addresses log in as usual. Only logins that pass
// reach Node-RED, so its global counter (cleared by every success) never fills. Every attempt is
// audited with the username and the address, never rate-limited.
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLoginLimit, LOGIN_MAX_FAILURES } from '../runtime/login-limit.ts';
import type { Log } from '../runtime/types.ts';

export { LOGIN_MAX_FAILURES, LOGIN_WINDOW_MS } from '../runtime/login-limit.ts';

type Req = IncomingMessage & { body?: Record<string, unknown>; path?: string };
type Next = (err?: unknown) => void;
type Middleware = (req: Req, res: ServerResponse, next: Next) => void;

interface NodeRedAuth {
  users: { authenticate(username: string, password: string): Promise<{ username: string; permissions: string | string[] } | null> };
  permissions: { hasPermission(userScope: string | string[], scope: string | string[]): boolean };
  parsers: Middleware[];
}

/** Node-RED's own user store and permission check (the instances it initialised), and its body parsers. */
function nodeRedAuth(): NodeRedAuth {
  const red = createRequire(createRequire(import.meta.url).resolve('node-red'));
  const api = createRequire(red.resolve('@node-red/editor-api'));
  const bodyParser = api('body-parser') as { json(o: object): Middleware; urlencoded(o: object): Middleware };
  return {
    users: api('@node-red/editor-api/lib/auth/users'),
    permissions: api('@node-red/editor-api/lib/auth/permissions'),
    parsers: [bodyParser.json({ limit: '16kb' }), bodyParser.urlencoded({ limit: '16kb', extended: false })],
  };
}

/** The guard, for Node-RED's `httpAdminMiddleware` (runs before its own routes and parsers). */
export function loginGuard(opts: { log: Log; mono: () => number }): Middleware {
  const { log } = opts;
  const limit = createLoginLimit();
  let auth: NodeRedAuth;
  try {
    auth = nodeRedAuth();
  } catch (err) {
    // A Node-RED version that moved these modules: logins still work, with its global throttle.
    log.error({ err }, 'per-address editor login lockout unavailable (Node-RED internals moved); Node-RED\'s own throttle applies');
    return (_req, _res, next) => next();
  }

  const send = (res: ServerResponse, status: number, body: object) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  };

  const check = async (req: Req, res: ServerResponse, next: Next) => {
    const body = req.body ?? {};
    if (body.grant_type !== 'password') return next();
    const ip = req.socket.remoteAddress ?? 'unknown';
    const username = typeof body.username === 'string' ? body.username.slice(0, 128) : '';
    const now = opts.mono();
    if (limit.failures(ip, now) >= LOGIN_MAX_FAILURES) {
      log.warn({ audit: 'auth.login.fail.too-many-attempts', username, ip }, 'editor login refused: too many failed logins from this address');
      return send(res, 429, { error: 'too_many_attempts', error_description: 'Too many failed logins from this address. Wait 10 minutes and try again.' });
    }
    const password = typeof body.password === 'string' ? body.password : '';
    const user = username && password ? await auth.users.authenticate(username, password).catch(() => null) : null;
    const scope = typeof body.scope === 'string' && body.scope !== '' ? body.scope : user?.permissions;
    if (user && scope !== undefined && auth.permissions.hasPermission(user.permissions, scope)) {
      limit.clear(ip);
      return next(); // Node-RED issues the token and audits auth.login
    }
    limit.fail(ip, now);
    const event = user ? 'auth.login.fail.permissions' : 'auth.login.fail.credentials';
    log.warn({ audit: event, username, ip, failures: limit.failures(ip, now) }, 'editor login failed');
    send(res, 403, { error: 'invalid_grant', error_description: 'Invalid resource owner credentials' });
  };

  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/auth/token') return next();
    const [json, form] = auth.parsers;
    json(req, res, (err) => {
      if (err) return next(err);
      form(req, res, (err2) => {
        if (err2) return next(err2);
        check(req, res, next).catch(next);
      });
    });
  };
}

/** A warning when the editor (logins, tokens, flows with credentials) is reachable in clear beyond this host. */
export function plainBeyondLoopback(host: string, editorPath: string): string | undefined {
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1';
  if (loopback) return undefined;
  return `flows editor ${editorPath} is served over plain HTTP on ${host} (beyond loopback): passwords and tokens cross the network in clear; bind http.host to 127.0.0.1 and reach it through a TLS proxy or an SSH tunnel`;
}
