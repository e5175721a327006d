// The Node-RED editor served by the agent: login required, no anonymous access, read-only users
// cannot deploy, the wayside palette is there, and the credential key is ours (0600), not
// Node-RED's generated one. Wrong logins lock out only the address they came from, and every
// login attempt is audited (event, username, address), never rate-limited away.
import bcrypt from 'bcryptjs';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFlowsAgent, waitFor, type FlowsAgent } from './support/flows/testing.ts';

let f: FlowsAgent;
const logLines: Record<string, unknown>[] = [];
// Cost 10: the loader refuses cheaper hashes (docs/flows.md's minimum).
const hash = (pw: string) => bcrypt.hashSync(pw, 10);

beforeAll(async () => {
  f = await startFlowsAgent(`devices:
  - { id: meter, driver: panel }
flows:
  editor:
    enabled: true
    path: /editor
    users:
      - { username: admin, password: "${hash('right-horse-battery')}", permissions: "*" }
      - { username: viewer, password: "${hash('viewer-pw-123')}", permissions: read }
`, { log: pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }) });
});
afterAll(async () => {
  await f?.agent.stop();
});

const login = (username: string, password: string, scope = '*') =>
  fetch(f.url('/editor/auth/token'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope, username, password }),
  });
/** A password login sent from `localAddress` (any 127.x address reaches the loopback listener). */
const loginFrom = (localAddress: string, username: string, password: string) =>
  new Promise<number>((resolve, reject) => {
    const { host, port } = f.agent.http!.address();
    const body = JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username, password });
    const req = http.request({ host, port, localAddress, path: '/editor/auth/token', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
const audits = (event: string, ip?: string) => logLines.filter((l) => l.audit === event && (ip === undefined || l.ip === ip));
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('flows editor', () => {
  it('refuses anonymous access to the admin API', async () => {
    expect((await fetch(f.url('/editor/flows'))).status).toBe(401);
    expect((await fetch(f.url('/editor/flows'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })).status).toBe(401);
    expect((await fetch(f.url('/editor/nodes'), { headers: { accept: 'application/json' } })).status).toBe(401);
    // The login page itself is public; the agent's own endpoints stay the agent's.
    expect((await fetch(f.url('/editor/'))).status).toBe(200);
    expect((await fetch(f.url('/healthz'))).status).toBe(200);
  });

  it('rejects a wrong password and accepts the right one', async () => {
    const bad = await login('admin', 'wrong-password');
    expect(bad.status).toBe(403);
    expect(await bad.text()).not.toMatch(/access_token/);
    expect((await login('nobody', 'right-horse-battery')).status).toBe(403);
    const ok = await login('admin', 'right-horse-battery');
    expect(ok.status).toBe(200);
    const { access_token: token } = (await ok.json()) as { access_token: string };
    const flows = await fetch(f.url('/editor/flows'), { headers: bearer(token) });
    expect(flows.status).toBe(200);
    expect(await flows.json()).toEqual([]);
    // The wayside palette is loaded, with help for every node.
    const nodes = (await (await fetch(f.url('/editor/nodes'), { headers: { ...bearer(token), accept: 'application/json' } })).json()) as { module: string; types: string[] }[];
    expect(nodes.filter((n) => n.module === '@wayside/node-red-nodes').flatMap((n) => n.types).sort()).toEqual(['wayside health', 'wayside in', 'wayside infer', 'wayside out', 'wayside write']);
    const html = await (await fetch(f.url('/editor/nodes'), { headers: { ...bearer(token), accept: 'text/html' } })).text();
    for (const t of ['wayside in', 'wayside out', 'wayside write', 'wayside health', 'wayside infer']) expect(html).toContain(`data-help-name="${t}"`);
    expect(html).toContain("category: 'wayside'");
  });

  it('lets an admin deploy and a read-only user only look', async () => {
    const admin = ((await (await login('admin', 'right-horse-battery')).json()) as { access_token: string }).access_token;
    const viewer = ((await (await login('viewer', 'viewer-pw-123', 'read')).json()) as { access_token: string }).access_token;
    const flows = [
      { id: 'e1', type: 'tab', label: 'from the editor' },
      { id: 'e2', type: 'wayside in', z: 'e1', device: 'meter', point: 'a', x: 100, y: 100, wires: [['e3']] },
      { id: 'e3', type: 'wayside out', z: 'e1', point: 'b', x: 300, y: 100, wires: [] },
    ];
    const post = (t: string) => fetch(f.url('/editor/flows'), { method: 'POST', headers: { ...bearer(t), 'content-type': 'application/json', 'node-red-deployment-type': 'full' }, body: JSON.stringify(flows) });
    expect((await post(viewer)).status).toBe(401);
    expect((await fetch(f.url('/editor/flows'), { headers: bearer(viewer) })).status).toBe(200);
    expect((await post(admin)).status).toBe(204);
    await waitFor(() => f.agent.health().flows?.nodes === 2, 'the deployed flow');
  });

  it('encrypts flow credentials with its own key, kept 0600 in the state directory', () => {
    const file = path.join(f.dir, 'secrets', 'flows-credential-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    const runtime = JSON.parse(readFileSync(path.join(f.dir, 'flows', '.config.runtime.json'), 'utf8')) as Record<string, unknown>;
    expect(runtime).not.toHaveProperty('_credentialSecret'); // Node-RED's generated key
    expect(f.agent.health().flows).toMatchObject({ state: 'running', editor: true });
  });

  it('locks out only the address that guessed wrong, and audits every attempt with its username', async () => {
    const tries: number[] = [];
    for (let i = 0; i < 7; i++) tries.push(await loginFrom('127.0.0.2', 'admin', `guess-${i}`));
    expect(tries).toEqual([403, 403, 403, 403, 403, 429, 429]);
    expect(await loginFrom('127.0.0.2', 'admin', 'right-horse-battery')).toBe(429); // locked, even with the right one
    // Node-RED alone would now lock admin out everywhere; another address still gets in.
    expect(await loginFrom('127.0.0.1', 'admin', 'right-horse-battery')).toBe(200);
    // The editor itself posts a form, not JSON.
    const form = await fetch(f.url('/editor/auth/token'), { method: 'POST', body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password: 'right-horse-battery' }) });
    expect(form.status).toBe(200);

    expect(audits('auth.login.fail.credentials', '127.0.0.2')).toHaveLength(5);
    expect(audits('auth.login.fail.credentials', '127.0.0.2').every((l) => l.username === 'admin' && l.level === 40)).toBe(true);
    expect(audits('auth.login.fail.too-many-attempts', '127.0.0.2')).toHaveLength(3);
    await waitFor(() => audits('auth.login').some((l) => l.username === 'admin'), 'the audited login');
    expect(logLines.filter((l) => l.msg === 'undefined' || l.msg === '')).toEqual([]);
  });

  it('never rate-limits audit lines away', async () => {
    const before = logLines.filter((l) => l.audit !== undefined).length;
    for (let i = 0; i < 40; i++) expect(await loginFrom('127.0.0.3', 'mallory', 'x')).toBeGreaterThanOrEqual(403);
    expect(logLines.filter((l) => l.audit !== undefined).length - before).toBe(40);
    expect(audits('auth.login.fail.too-many-attempts', '127.0.0.3').every((l) => l.username === 'mallory')).toBe(true);
  });
});
