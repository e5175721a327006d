// The Node-RED editor served by the agent: login required, no anonymous access, read-only users
// cannot deploy, the wayside palette is there, and the credential key is ours (0600), not
// Node-RED's generated one.
import bcrypt from 'bcryptjs';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFlowsAgent, waitFor, type FlowsAgent } from '../flows/testing.ts';

let f: FlowsAgent;
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
`);
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
    expect(nodes.filter((n) => n.module === '@wayside/node-red-nodes').flatMap((n) => n.types).sort()).toEqual(['wayside health', 'wayside in', 'wayside out', 'wayside write']);
    const html = await (await fetch(f.url('/editor/nodes'), { headers: { ...bearer(token), accept: 'text/html' } })).text();
    for (const t of ['wayside in', 'wayside out', 'wayside write', 'wayside health']) expect(html).toContain(`data-help-name="${t}"`);
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
});
