// A real agent with the status page on, for the status page tests: the product's services over
// a config written to a temporary directory, HTTP on a free loopback port, no uplink; a
// technician account "tech" whose password the test knows (bcrypt cost 10, the minimum the
// loader accepts).
import bcrypt from 'bcryptjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { productRegistry } from '../../../main.ts';
import { startAgent, type Agent } from '../../../runtime/agent.ts';
import { readConfig } from '../../../runtime/config/index.ts';
import { silentLog } from '../../../runtime/log.ts';
import type { Log } from '../../../runtime/types.ts';

export const USER = 'tech';
export const PASSWORD = 'pole-ladder-42';
/** The hash of PASSWORD, made once per test file. */
export const HASH = bcrypt.hashSync(PASSWORD, 10);

export interface StatusAgent {
  agent: Agent;
  dir: string;
  file: string;
  /** http://127.0.0.1:<port> */
  base: string;
  close(): Promise<void>;
}

/**
 * `devices` is YAML placed under `devices:`; `status` replaces the default status section
 * (enabled, one user "tech"); `extra` is appended at the top level; `prepare` fills the
 * directory (clips, models) before the agent starts.
 */
export async function startStatusAgent(opts: { devices: string; extra?: string; status?: string; log?: Log; http?: string; prepare?: (dir: string) => Promise<void> }): Promise<StatusAgent> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-status-'));
  await opts.prepare?.(dir);
  const file = path.join(dir, 'wayside.yaml');
  writeFileSync(file, `version: 1
gateway: { id: pole-status, site: "Test Street 1", stateDir: ./state }
http: ${opts.http ?? '{ host: 127.0.0.1, port: 0 }'}
uplink: { enabled: false }
devices:
${opts.devices}
${opts.status ?? `status:
  enabled: true
  users:
    - { username: ${USER}, password: "${HASH}" }`}
${opts.extra ?? ''}
`);
  const { registry, services } = productRegistry();
  const { config } = readConfig(file, registry);
  const agent = await startAgent({ config, services: services(config), log: opts.log ?? silentLog() });
  const port = agent.http?.address().port;
  return {
    agent,
    dir,
    file,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Logs in as an API client; returns the session cookie and CSRF token. */
export async function apiLogin(base: string, user = USER, password = PASSWORD): Promise<{ cookie: string; csrf: string }> {
  const r = await fetch(`${base}/status/login`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ username: user, password }) });
  if (r.status !== 200) throw new Error(`login answered ${r.status}`);
  const { csrf } = (await r.json()) as { csrf: string };
  return { cookie: r.headers.get('set-cookie')!.split(';')[0], csrf };
}
