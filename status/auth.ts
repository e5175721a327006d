// Logins of the status page: technician accounts from the config (bcrypt hashes, checked with
// the bcrypt module Node-RED itself ships, so nothing extra is installed), sessions held in
// memory behind an HttpOnly SameSite=Strict cookie with a random 32-byte id, a per-session
// CSRF token that every action must send in a header, an Origin check on every POST, and a
// per-address login lockout like the flows editor's: after LOGIN_MAX_FAILURES wrong logins in
// LOGIN_WINDOW_MS from one address, that address is refused until its failures age out, while
// other addresses log in as usual.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { createLoginLimit, LOGIN_MAX_FAILURES } from '../runtime/login-limit.ts';
import { STATUS_PATH } from './config.ts';

export { LOGIN_MAX_FAILURES, LOGIN_WINDOW_MS } from '../runtime/login-limit.ts';
export const COOKIE = 'wayside_status';
const MAX_SESSIONS = 200;

type Compare = (password: string, hash: string) => Promise<boolean>;

/**
 * bcrypt's compare: the module Node-RED uses for the editor's users (bcryptjs, a dependency of
 * node-red), resolved from node-red so the agent needs no package of its own for it.
 */
export function loadBcrypt(): Compare {
  const req = createRequire(import.meta.url);
  const fromRed = createRequire(req.resolve('node-red'));
  const mod = fromRed('bcryptjs') as { compare(p: string, h: string): Promise<boolean>; default?: { compare(p: string, h: string): Promise<boolean> } };
  const bcrypt = typeof mod.compare === 'function' ? mod : mod.default!;
  return (password, hash) => bcrypt.compare(password, hash);
}

// Compared against when the username is unknown, so a wrong name costs the same time as a wrong password.
const DUMMY_HASH = '$2b$10$3avzdbZ6qyaPdwFeKpIJ/ODAKgfc7SQc8FIVW.TOmzB6gVeEoQvBq';

export interface Session {
  id: string;
  username: string;
  csrf: string;
  /** Monotonic ms when it ends. */
  expires: number;
}

export interface Auth {
  /** Checks a login; `refused` says why. Counts failures against `ip`. */
  login(username: string, password: string, ip: string): Promise<{ session: Session } | { refused: 'credentials' | 'too_many_attempts' }>;
  /** The session of a request's cookie, when valid. */
  session(req: IncomingMessage): Session | undefined;
  logout(id: string): void;
  /** The Set-Cookie value of a new session, or of its removal. */
  cookie(session: Session | undefined): string;
  /** Failed logins recorded against an address in the window (tests, audit). */
  failures(ip: string): number;
  /** Sessions alive now. */
  count(): number;
  /** Ends the sessions past their time (their streams close with them). */
  sweep(): void;
  /** Called with each ended session id (logout, expiry): open streams of it close. */
  onEnd(fn: (id: string) => void): void;
}

export function createAuth(opts: { users: { username: string; password: string }[]; ttlMs: number; mono: () => number; compare?: Compare }): Auth {
  const compare = opts.compare ?? loadBcrypt();
  const users = new Map(opts.users.map((u) => [u.username, u.password]));
  const sessions = new Map<string, Session>();
  const limit = createLoginLimit();
  const ended: ((id: string) => void)[] = [];

  const end = (id: string) => {
    if (!sessions.delete(id)) return;
    for (const fn of ended) fn(id);
  };
  return {
    async login(username, password, ip) {
      const now = opts.mono();
      if (limit.failures(ip, now) >= LOGIN_MAX_FAILURES) return { refused: 'too_many_attempts' };
      const hash = users.get(username);
      const ok = (await compare(password, hash ?? DUMMY_HASH).catch(() => false)) && hash !== undefined && password.length > 0;
      if (!ok) {
        limit.fail(ip, now);
        return { refused: 'credentials' };
      }
      limit.clear(ip);
      for (const [id, s] of sessions) if (s.expires <= now) end(id);
      if (sessions.size >= MAX_SESSIONS) end(sessions.keys().next().value!); // the oldest
      const session: Session = { id: randomBytes(32).toString('base64url'), username, csrf: randomBytes(32).toString('base64url'), expires: now + opts.ttlMs };
      sessions.set(session.id, session);
      return { session };
    },
    session(req) {
      const id = cookieValue(req.headers.cookie, COOKIE);
      if (!id) return undefined;
      const s = sessions.get(id);
      if (!s || !sameText(s.id, id)) return undefined;
      if (s.expires <= opts.mono()) {
        end(id);
        return undefined;
      }
      return s;
    },
    logout: end,
    cookie(s) {
      const common = `Path=${STATUS_PATH}; HttpOnly; SameSite=Strict`;
      return s ? `${COOKIE}=${s.id}; ${common}; Max-Age=${Math.floor(opts.ttlMs / 1000)}` : `${COOKIE}=; ${common}; Max-Age=0`;
    },
    failures: (ip) => limit.failures(ip, opts.mono()),
    count: () => sessions.size,
    sweep() {
      const now = opts.mono();
      for (const [id, s] of sessions) if (s.expires <= now) end(id);
    },
    onEnd: (fn) => void ended.push(fn),
  };
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** Constant-time equality of two strings (CSRF tokens, session ids). */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A POST from this page's own origin: its Origin (or, lacking one, its Referer) names the host
 * the request was sent to. Clients that send neither (the `wayside watch` verb, curl) pass here;
 * the CSRF token still guards every action.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const from = req.headers.origin ?? req.headers.referer;
  if (from === undefined) return true;
  try {
    return new URL(from).host === req.headers.host;
  } catch {
    return false;
  }
}
