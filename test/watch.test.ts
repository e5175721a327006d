// `wayside watch` as the technician runs it (bin/wayside in a child process, stdout a pipe, so
// the plain appended-lines mode): standalone from a config when no agent answers, following a
// running agent's status page stream with a login, its /healthz without one, and the refusals
// (wrong password, unknown device, no agent at --url).
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/modbus/sim.ts';
import { PASSWORD, startStatusAgent, USER, type StatusAgent } from './support/status/agent.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/wayside');

function watch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(BIN, ['watch', ...args], { env: { ...process.env, WAYSIDE_PASSWORD: '', ...env }, timeout: 40_000 }, (error, out, err) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

const LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z sim-1 pm25 = [\d.]+ µg\/m³$/m;

let s: StatusAgent;
beforeAll(async () => {
  s = await startStatusAgent({ devices: '  - { id: sim-1, driver: sim, interval: 200ms, points: [pm25] }\n  - { id: sim-2, driver: sim, interval: 200ms, points: [noise_db] }' });
}, 30_000);
afterAll(() => s?.close());

describe('wayside watch', () => {
  it('runs the config\'s devices itself when no agent answers, printing one line per reading of the devices asked for', async () => {
    const port = await freePort(); // no agent there
    const file = path.join(s.dir, 'standalone.yaml');
    writeFileSync(file, `version: 1
gateway: { id: pole-w, stateDir: ./never-used }
http: { host: 127.0.0.1, port: ${port} }
uplink: { url: "mqtt://127.0.0.1:1" }
devices:
  - { id: sim-1, driver: sim, interval: 200ms, points: [pm25] }
  - { id: sim-2, driver: sim, interval: 200ms, points: [noise_db] }
`);
    const r = await watch(['sim-1', '--config', file, '--for', '2s']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(`# pole-w: standalone from ${file} (no agent answering)`);
    expect(r.out).toMatch(LINE);
    expect(lines.filter((l) => LINE.test(l)).length).toBeGreaterThanOrEqual(4);
    expect(r.out).toMatch(/Z sim-1 state online$/m);
    expect(r.out).not.toMatch(/sim-2/);
    // Standalone never touches the agent's own state directory.
    expect(existsSync(path.join(s.dir, 'never-used'))).toBe(false);
  });

  it('follows a running agent\'s status page stream after logging in', async () => {
    const r = await watch(['sim-1', '--url', s.base, '--user', USER, '--for', '2s'], { WAYSIDE_PASSWORD: PASSWORD });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`# ${s.base}: ${s.base}/status (live)`);
    expect(r.out.match(new RegExp(LINE.source, 'gm'))!.length).toBeGreaterThanOrEqual(3);
    expect(r.out).toMatch(/Z sim-1 state online$/m);
    expect(r.out).not.toMatch(/sim-2/);
  });

  it('shows device states from /healthz without a login', async () => {
    const r = await watch(['--url', s.base, '--for', '1s']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`# ${s.base}: ${s.base}/healthz (states only; values need the status page and --user)`);
    expect(r.out).toMatch(/Z sim-1 state online$/m);
    expect(r.out).toMatch(/Z sim-2 state online$/m);
    expect(r.out).not.toMatch(/ = /);
  });

  it('refuses a wrong password, an unknown device and an --url where nothing answers', async () => {
    const port = await freePort();
    const [bad, nodev, none, usage] = await Promise.all([
      watch(['--url', s.base, '--user', USER, '--for', '5s'], { WAYSIDE_PASSWORD: 'wrong' }),
      watch(['sim-9', '--url', s.base, '--for', '1s']),
      watch(['--url', `http://127.0.0.1:${port}`]),
      watch([]),
    ]);
    expect([bad.code, bad.err]).toEqual([1, `wayside: watch: login refused at ${s.base}/status: wrong user name or password\n`]);
    expect([nodev.code, nodev.err]).toEqual([2, 'wayside: watch: no device "sim-9" (devices: sim-1, sim-2)\n']);
    expect([none.code, none.err]).toEqual([1, `wayside: watch: no agent answers at http://127.0.0.1:${port}\n`]);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/^wayside: watch: give --config <file>/);
  });
});
