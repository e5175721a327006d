// Power loss in the middle of a deploy: a real agent process (the product's services, the deploy
// service, booted with bootConfig as the CLI will be) is held at each step of the machine
// (WAYSIDE_DEPLOY_PAUSE) during a config deploy and killed with SIGKILL there; started again, it
// boots into the last good version (the confirmed deployed config, not the one being deployed)
// and its history says the deploy was interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, subscribeCollector, type Collector, type Mosquitto } from './helpers/mosquitto.ts';
import { waitFor } from './helpers/wait.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-deploy-kill-'));
const stateDir = path.join(dir, 'state');
const configFile = path.join(dir, 'wayside.yaml');
const CMD = 'wayside/v1/pole-kill/cmd/';
let broker: Mosquitto;
let platform: Collector;
let proc: ChildProcess | undefined;

const head = () => `version: 1\ngateway: { id: pole-kill, stateDir: ${stateDir} }\nclock: { trust: always }\nhttp: { enabled: false }\nlog: { level: warn }\nuplink: { url: "${broker.url}", reconnect: { min: 200ms, max: 1s } }\n`;
const devices = (...ids: string[]) => `devices:\n${ids.map((id) => `  - { id: ${id}, driver: sim, interval: 1s, points: [pm25] }\n`).join('')}`;

function spawnAgent(env: NodeJS.ProcessEnv = {}): ChildProcess {
  const p = spawn(path.join(root, 'node_modules/.bin/node'), [path.join(root, 'test/support/deploy/agent-main.ts'), '--config', configFile], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  proc = p;
  return p;
}
const kill9 = async (p: ChildProcess) => {
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await gone;
};
/** Waits for the agent's birth after `since` messages, then asks it something. */
const request = async (name: string, body: unknown = {}) => (await platform.request(CMD + name, body, 15_000)).payload;
const births = () => platform.messages.filter((m) => m.topic === 'wayside/v1/pole-kill/state' && m.payload.online === true).length;
const devicesRunning = async (): Promise<string[]> => (await request('health')).result.devices.map((d: { device: string }) => d.device).sort();

beforeAll(async () => {
  broker = await startMosquitto();
  platform = await subscribeCollector(broker.url, 'wayside/v1/pole-kill/state');
  writeFileSync(configFile, head() + devices('sim-a'));
});
afterAll(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) await kill9(proc);
  await platform?.close();
  await broker?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 during a deploy', () => {
  it('boots into the last good config whatever step the deploy was killed at', { timeout: 60_000 }, async () => {
    // A good deployed config first (version 1: sim-a + sim-c), confirmed.
    let b = births();
    let p = spawnAgent();
    await platform.waitUntil(() => births() > b, 15_000);
    const v1 = await request('config.apply', { version: 1, yaml: head() + devices('sim-a', 'sim-c'), wait: true });
    expect(v1.result).toMatchObject({ version: 1, outcome: 'confirmed' });
    await kill9(p);

    let version = 1;
    for (const step of ['stored', 'journaled', 'switched', 'decided'] as const) {
      b = births();
      p = spawnAgent({ WAYSIDE_DEPLOY_PAUSE: step });
      await platform.waitUntil(() => births() > b, 15_000);
      // It runs the deployed version 1, not the file and not the one killed last time.
      expect(await devicesRunning()).toEqual(['sim-a', 'sim-c']);
      version++;
      const marker = path.join(stateDir, 'deploy', `paused-${step}`);
      rmSync(marker, { force: true });
      await platform.client.publishAsync(CMD + 'config.apply', JSON.stringify({ version, yaml: head() + devices('sim-a', 'sim-b'), responseTopic: 'ignored' }), { qos: 1, properties: { responseTopic: 'ignored/kill', correlationData: Buffer.from(String(version)) } });
      await waitFor(() => existsSync(marker), `the deploy held at ${step}`, 15_000);
      await kill9(p);
    }

    b = births();
    p = spawnAgent();
    await platform.waitUntil(() => births() > b, 15_000);
    expect(await devicesRunning()).toEqual(['sim-a', 'sim-c']);
    const v = (await request('versions.get')).result.config;
    expect(v).toMatchObject({ active: 1, lastGood: 1 });
    // Killed at "stored" the switch never began: no outcome; the later ones were undone at boot.
    expect(v.history.map((h: { version: number; outcome: string }) => `${h.version}:${h.outcome}`)).toEqual(['1:confirmed', '3:interrupted', '4:interrupted', '5:interrupted']);
    // Versions keep growing past every one tried.
    const again = await request('config.apply', { version: 2, yaml: head() + devices('sim-a', 'sim-b') });
    expect(again).toMatchObject({ ok: false, error: { code: 'stale_version' } });
    await kill9(p);
  });
});
