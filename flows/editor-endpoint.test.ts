// GET <editor>/wayside/devices, the editor's device and point pickers' source: behind the
// editor's login (any editor user, `read` ones included), and the same device description as
// the birth message (the devices service's birth contribution), from a real agent.
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevicesService } from '../drivers/service.ts';
import { startFlowsAgent, type FlowsAgent } from '../test/support/flows/testing.ts';

let f: FlowsAgent;
beforeAll(async () => {
  f = await startFlowsAgent(`devices:
  - { id: pole-sim, driver: sim, interval: 1s }
  - { id: lamp, driver: panel, writable: [level] }
flows:
  editor:
    enabled: true
    path: /editor
    users:
      - { username: admin, password: "${bcrypt.hashSync('admin-password-1', 10)}", permissions: "*" }
      - { username: viewer, password: "${bcrypt.hashSync('viewer-password-1', 10)}", permissions: read }
`);
});
afterAll(async () => {
  await f?.agent.stop();
});

const token = async (username: string, password: string, scope: string) => {
  const r = await fetch(f.url('/editor/auth/token'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'node-red-editor', grant_type: 'password', scope, username, password }) });
  return ((await r.json()) as { access_token: string }).access_token;
};

describe('GET <editor>/wayside/devices', () => {
  it('needs a login', async () => {
    expect((await fetch(f.url('/editor/wayside/devices'))).status).toBe(401);
    expect((await fetch(f.url('/editor/wayside/devices'), { headers: { authorization: 'Bearer not-a-token' } })).status).toBe(401);
  });

  it('lists the devices and their points as the birth message describes them, to any editor user', async () => {
    const birth = JSON.parse(JSON.stringify(f.agent.service<DevicesService>('devices')!.birth!())) as { devices: unknown[] };
    expect(birth.devices.length).toBe(2);
    for (const [user, pw, scope] of [['admin', 'admin-password-1', '*'], ['viewer', 'viewer-password-1', 'read']]) {
      const r = await fetch(f.url('/editor/wayside/devices'), { headers: { authorization: `Bearer ${await token(user, pw, scope)}` } });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { devices: { id: string; points?: { name: string; writable: boolean; min?: number; max?: number }[] }[] };
      expect(body).toEqual({ devices: birth.devices });
      expect(body.devices.find((d) => d.id === 'pole-sim')!.points!.find((p) => p.name === 'lamp_level')).toMatchObject({ writable: true, min: 0, max: 100, unit: '%' });
      expect(body.devices.find((d) => d.id === 'lamp')).toEqual({ id: 'lamp', driver: 'panel' }); // its driver cannot tell its points
    }
  });
});
