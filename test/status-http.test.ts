// The status page over HTTP against a real agent (a sim device): off unless configured, the
// config refusing weak accounts with file:line, login and its cookie, CSRF and Origin checks on
// actions, the per-address login lockout, the live stream (first view, then deltas at most
// twice a second) and logout ending it.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productRegistry } from '../main.ts';
import { parseConfig } from '../runtime/config/index.ts';
import { apiLogin, HASH, PASSWORD, startStatusAgent, USER, type StatusAgent } from './support/status/agent.ts';
import { LOGIN_MAX_FAILURES } from '../status/auth.ts';
import type { Delta, View } from '../status/live.ts';

let s: StatusAgent;
beforeAll(async () => {
  s = await startStatusAgent({ devices: '  - { id: sim-1, driver: sim, interval: 50ms, points: [pm25, noise_db] }' });
}, 30_000);
afterAll(() => s?.close());

const head = 'version: 1\ngateway: { id: pole-1 }\nuplink: { enabled: false }\n';
const parse = (text: string) => parseConfig(head + text, '/nonexistent/wayside.yaml', productRegistry().registry, {});

/** A login POST sent from `localAddress` (any 127.x address reaches the loopback listener). */
const loginFrom = (localAddress: string, password: string) =>
  new Promise<number>((resolve, reject) => {
    const body = JSON.stringify({ username: USER, password });
    const u = new URL(s.base);
    const req = http.request({ host: u.hostname, port: u.port, localAddress, path: '/status/login', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });

/** Reads SSE events from a stream until `until` says stop (or the stream ends). */
async function events(res: Response, until: (seen: { event: string; data: unknown; at: number }[]) => boolean): Promise<{ event: string; data: unknown; at: number }[]> {
  const seen: { event: string; data: unknown; at: number }[] = [];
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += dec.decode(chunk, { stream: true });
    let at;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) seen.push({ event, data: JSON.parse(data), at: Date.now() });
    }
    if (until(seen)) break;
  }
  return seen;
}

describe('status config', () => {
  it('is off unless configured, and refuses plain passwords, cheap hashes, no users and twice a name with file:line', () => {
    expect((parse('') as unknown as { status: unknown }).status).toEqual({ enabled: false, users: [], sessionTtl: 12 * 3_600_000 });
    expect(() => parse('status:\n  enabled: true\n  users:\n    - { username: tech, password: "hunter22" }\n'))
      .toThrow(/wayside\.yaml:7 status\.users\[0\]\.password: expected a bcrypt hash \("\$2b\$\.\.\."\), not a plain password \(got a string of 8 characters\)/);
    expect(() => parse(`status:\n  enabled: true\n  users:\n    - username: tech\n      password: "$2b$04$${'a'.repeat(53)}"\n`))
      .toThrow(/wayside\.yaml:8 status\.users\[0\]\.password: expected a bcrypt hash of cost 10-31 \(docs\/technician\.md\), got cost 4/);
    expect(() => parse('status:\n  enabled: true\n')).toThrow(/wayside\.yaml:4 status(\.users)?: expected at least one user while the status page is enabled/);
    expect(() => parse(`status:\n  enabled: true\n  users:\n    - { username: a, password: "${HASH}" }\n    - { username: a, password: "${HASH}" }\n`))
      .toThrow(/status\.users\[1\]\.username: duplicate username "a"/);
    expect(() => parse('status:\n  sessionTtl: 1m\n')).toThrow(/status\.sessionTtl: expected duration 5m-7d/);
  });

  it('serves nothing when off', async () => {
    const off = await startStatusAgent({ devices: '  - { id: sim-1, driver: sim }', status: '' });
    try {
      expect((await fetch(`${off.base}/status`, { redirect: 'manual' })).status).toBe(404);
      expect((await fetch(`${off.base}/status/login`)).status).toBe(404);
      expect(off.agent.health()['status-page']).toEqual({ enabled: false, sessions: 0, streams: 0 });
    } finally {
      await off.close();
    }
  });
});

describe('status page over HTTP', () => {
  it('asks for a login before anything but its login page and assets', async () => {
    const page = await fetch(`${s.base}/status`, { redirect: 'manual' });
    expect([page.status, page.headers.get('location')]).toEqual([303, '/status/login']);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect((await fetch(`${s.base}/status/login`)).status).toBe(200);
    expect((await fetch(`${s.base}/status/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    for (const path of ['/status/api/state', '/status/events', '/status/camera/sim-1.json']) expect((await fetch(`${s.base}${path}`)).status, path).toBe(401);
    expect((await fetch(`${s.base}/status/api/devices/sim-1/read`, { method: 'POST' })).status).toBe(401);
    // A forged cookie is no session.
    expect((await fetch(`${s.base}/status/api/state`, { headers: { cookie: `wayside_status=${'A'.repeat(43)}` } })).status).toBe(401);
  });

  it('logs in with an HttpOnly SameSite=Strict cookie of a 32-byte random id; a wrong password gets none', async () => {
    const bad = await fetch(`${s.base}/status/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${USER}&password=wrong`, redirect: 'manual' });
    expect([bad.status, bad.headers.get('location'), bad.headers.get('set-cookie')]).toEqual([303, '/status/login?e=credentials', null]);
    const unknown = await fetch(`${s.base}/status/login`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ username: 'nobody', password: PASSWORD }) });
    expect(unknown.status).toBe(401);
    const ok = await fetch(`${s.base}/status/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${USER}&password=${PASSWORD}`, redirect: 'manual' });
    expect([ok.status, ok.headers.get('location')]).toEqual([303, '/status/']);
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^wayside_status=[A-Za-z0-9_-]{43}; Path=\/status; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const page = await fetch(`${s.base}/status/`, { headers: { cookie: cookie.split(';')[0] } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<meta name="csrf" content="[A-Za-z0-9_-]{43}">/);
    // A login posted from another site is refused before the password is even checked.
    const cross = await fetch(`${s.base}/status/login`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', origin: 'http://evil.example' }, body: JSON.stringify({ username: USER, password: PASSWORD }) });
    expect(cross.status).toBe(403);
  });

  it('actions need the session\'s CSRF token and this origin', async () => {
    const { cookie, csrf } = await apiLogin(s.base);
    const read = (headers: Record<string, string>) => fetch(`${s.base}/status/api/devices/sim-1/read`, { method: 'POST', headers: { cookie, ...headers } });
    expect((await read({})).status).toBe(403);
    expect((await read({ 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
    expect((await read({ 'x-csrf-token': csrf, origin: 'http://evil.example' })).status).toBe(403);
    const other = await apiLogin(s.base);
    expect((await read({ 'x-csrf-token': other.csrf })).status).toBe(403); // another session's token
    const good = await read({ 'x-csrf-token': csrf, origin: s.base });
    expect([good.status, await good.json()]).toEqual([200, { ok: true, device: 'sim-1' }]);
    const none = await fetch(`${s.base}/status/api/devices/nope/read`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
    expect([none.status, ((await none.json()) as { error: { code: string } }).error.code]).toEqual([404, 'unknown_device']);
    expect((await fetch(`${s.base}/status/logout`, { method: 'POST', headers: { cookie } })).status).toBe(403);
  });

  it(`locks out an address after ${LOGIN_MAX_FAILURES} wrong logins, not the others`, async () => {
    for (let i = 0; i < LOGIN_MAX_FAILURES; i++) expect(await loginFrom('127.0.0.2', 'wrong')).toBe(401);
    expect(await loginFrom('127.0.0.2', PASSWORD)).toBe(429); // even the right password, for now
    expect(await loginFrom('127.0.0.3', PASSWORD)).toBe(200);
    expect(await loginFrom('127.0.0.3', 'wrong')).toBe(401);
    expect(await loginFrom('127.0.0.3', PASSWORD)).toBe(200);
  });

  it('streams a first view, then deltas at most twice a second; logout ends the stream', async () => {
    const { cookie, csrf } = await apiLogin(s.base);
    const res = await fetch(`${s.base}/status/events`, { headers: { cookie } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const t0 = Date.now();
    const seen = await events(res, (e) => Date.now() - t0 > 3000 && e.length > 1);
    const secs = (seen.at(-1)!.at - seen[0].at) / 1000;
    const view = seen[0].data as View;
    expect(seen[0].event).toBe('view');
    expect(view.head).toMatchObject({ gateway: 'pole-status', site: 'Test Street 1', uplink: { enabled: false }, devices: [{ id: 'sim-1', driver: 'sim', state: 'online', camera: false }] });
    expect(Object.keys(view.points['sim-1']).sort()).toEqual(['noise_db', 'pm25']);
    const deltas = seen.slice(1).map((e) => e.data as Delta);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    // 20 readings a second per point arrive; at most 2 updates a second leave, each with the last values.
    expect(deltas.length).toBeLessThanOrEqual(Math.ceil(secs * 2) + 1);
    expect(deltas.every((d) => (d.readings ?? []).every(([dev, , v]) => dev === 'sim-1' && typeof v === 'number'))).toBe(true);
    expect(deltas.some((d) => d.readings?.length === 2)).toBe(true);

    const stream = await fetch(`${s.base}/status/events`, { headers: { cookie } });
    const ended = events(stream, () => false);
    await new Promise((r) => setTimeout(r, 300));
    const out = await fetch(`${s.base}/status/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^wayside_status=; Path=\/status; HttpOnly; SameSite=Strict; Max-Age=0$/);
    expect((await ended)[0].event).toBe('view'); // the stream ended by itself
    expect((await fetch(`${s.base}/status/api/state`, { headers: { cookie } })).status).toBe(401);
  });

  it('takes a deployed config live: new accounts, old sessions ended', async () => {
    const old = await apiLogin(s.base);
    const cur = s.agent.config();
    const next = { ...cur, status: { enabled: true, users: [{ username: 'tech2', password: HASH }], sessionTtl: 3_600_000 } } as typeof cur;
    const r = await s.agent.reconfigure(next);
    expect(r.restarted).toContain('status-page');
    expect(r.needsRestart).not.toContain('status-page');
    expect((await fetch(`${s.base}/status/api/state`, { headers: { cookie: old.cookie } })).status).toBe(401);
    await expect(apiLogin(s.base)).rejects.toThrow(/login answered 401/);
    const fresh = await apiLogin(s.base, 'tech2');
    expect((await fetch(`${s.base}/status/api/state`, { headers: { cookie: fresh.cookie } })).status).toBe(200);
  });
});
