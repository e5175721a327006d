// Test support for the fleet: a real mosquitto confined by the generated ACL (one password per
// gateway), a platform key made by keygen, and real agent processes (`bin/wayside run`) enrolled
// the way an installer does it: an offline bundle per gateway, `wayside provision --file`, the
// printed uplink fragment put into wayside.yaml. Not shipped.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { generatePlatformKey, type PlatformKey } from '../../../provisioning/fleet/keys.ts';
import { makeBundle } from '../../../provisioning/fleet/sign.ts';
import { spawnAgent, type AgentProcess } from '../../helpers/agent-process.ts';
import { freePort } from '../../helpers/mosquitto.ts';
import { PLATFORM_PASS, PLATFORM_USER, startAclBroker, type AclBroker } from '../provisioning/broker.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);

export interface FleetGateway {
  id: string;
  dir: string;
  stateDir: string;
  configFile: string;
  /** The uplink block `wayside provision` printed (url, username, password: { file }). */
  uplink: Record<string, unknown>;
  httpPort: number;
  agent: AgentProcess;
  /** The whole config text for this gateway, with `devices` (YAML list items) and uplink overrides. */
  config(opts?: { devices?: string; uplink?: Record<string, unknown> }): string;
}

export interface FleetWorld {
  dir: string;
  broker: AclBroker;
  key: PlatformKey & { file: string };
  gateways: FleetGateway[];
  platform: { username: string; password: string };
  stop(): Promise<void>;
}

/** `gws`: id and tags of each gateway. Each agent runs with flows enabled, its HTTP on a free port and a 2 s deploy health window. */
export async function startFleetWorld(gws: { id: string; site: string; tags: Record<string, string> }[]): Promise<FleetWorld> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wayside-fleet-e2e-'));
  const broker = await startAclBroker(gws.map((g) => g.id));
  const key = { ...generatePlatformKey(path.join(dir, 'platform.key')), file: path.join(dir, 'platform.key') };
  const gateways = await Promise.all(gws.map(async (g) => {
    const gdir = path.join(dir, g.id);
    const stateDir = path.join(gdir, 'state');
    const bundleFile = path.join(dir, `${g.id}.bundle.json`);
    const bundle = makeBundle(key.privateKey, { gw: g.id, site: g.site, tags: g.tags, broker: { url: broker.url, username: g.id, password: broker.passwords[g.id] } });
    writeFileSync(bundleFile, JSON.stringify(bundle), { mode: 0o600 });
    // The installer's step, as a real process.
    await run(path.join(root, 'bin/wayside'), ['provision', '--file', bundleFile, '--state', stateDir], { timeout: 30_000 });
    const fragment = parse(readFileSync(path.join(stateDir, 'provisioning', 'uplink.yaml'), 'utf8')) as { gateway: { id: string; site?: string }; uplink: Record<string, unknown> };
    const httpPort = await freePort();
    const configFile = path.join(gdir, 'wayside.yaml');
    const config = (o: { devices?: string; uplink?: Record<string, unknown> } = {}) =>
      [
        'version: 1',
        `gateway: ${JSON.stringify({ ...fragment.gateway, stateDir })}`,
        'clock: { trust: always }',
        `http: { enabled: true, host: 127.0.0.1, port: ${httpPort} }`,
        'flows: { enabled: true }',
        'deploy: { healthWindow: 2s }',
        `uplink: ${JSON.stringify({ ...fragment.uplink, reconnect: { min: '200ms', max: '1s' }, ...o.uplink })}`,
        `devices:${o.devices ? '\n' + o.devices : ' []'}`,
        '',
      ].join('\n');
    writeFileSync(configFile, config());
    return { id: g.id, dir: gdir, stateDir, configFile, uplink: fragment.uplink, httpPort, config, agent: undefined as unknown as AgentProcess };
  }));
  for (const g of gateways) g.agent = spawnAgent(g.configFile);
  return {
    dir, broker, key, gateways,
    platform: { username: PLATFORM_USER, password: PLATFORM_PASS },
    async stop() {
      await Promise.all(gateways.map((g) => g.agent?.term().catch(() => undefined)));
      await broker.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let y = 0;
/** A flow node on tab `main` (Node-RED needs positions on wired nodes). */
export const node = (n: Record<string, unknown>) => ({ z: 'main', x: 200, y: (y += 40), ...n });

/** A flow that emits one event of `type` through `wayside out` shortly after it starts. */
export function helloFlow(type: string): unknown[] {
  return [
    { id: 'main', type: 'tab', label: 'main' },
    node({ id: 'start', type: 'inject', once: true, onceDelay: 0.1, repeat: '', topic: '', payload: '', payloadType: 'date', wires: [['mk']] }),
    node({ id: 'mk', type: 'function', func: `msg.event = { type: "${type}", severity: "info", data: { from: "flow" } }; return msg;`, outputs: 1, wires: [['out']] }),
    node({ id: 'out', type: 'wayside out', wires: [] }),
  ];
}

/** A flow whose function node throws on every message of a repeating inject. */
export function brokenFlow(): unknown[] {
  return [
    { id: 'main', type: 'tab', label: 'main' },
    node({ id: 'tick', type: 'inject', repeat: '0.1', once: true, onceDelay: 0.05, topic: '', payload: '', payloadType: 'date', wires: [['thrower']] }),
    node({ id: 'thrower', type: 'function', func: 'throw new Error("broken on purpose");', outputs: 1, wires: [[]] }),
  ];
}
