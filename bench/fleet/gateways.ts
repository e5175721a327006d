// Light gateways for fleet-scale runs (bench/fleet.bench.ts, test/fleet-cluster.test.ts): many
// real agents in one process. Each is enrolled offline like a real pole (a bundle signed with
// the platform key, applied by provisioning/enroll.ts applyBundle: identity, gateway key and
// uplink fragment under <stateDir>/provisioning), then started with startAgent and the product's
// services (main.ts productServices) except the heavy ones: the models service (an inference
// engine per agent) is left out, and Node-RED, a per-process singleton, is replaced by the flows
// host double (flows-double.ts). One sim device polled every `intervalS` seconds, no HTTP server,
// a short deploy health window. The provisioning and deploy services, the signature check, the
// outbox, the uplink and the deploy machine are the real ones.
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { builtinDrivers } from '../../drivers/index.ts';
import { productSections, productServices } from '../../main.ts';
import { applyBundle } from '../../provisioning/enroll.ts';
import { makeBundle } from '../../provisioning/fleet/sign.ts';
import { startAgent, type Agent } from '../../runtime/agent.ts';
import { parseConfig } from '../../runtime/config/index.ts';
import { createDriverRegistry } from '../../runtime/drivers.ts';
import { silentLog } from '../../runtime/log.ts';
import { stateDir } from '../../runtime/state.ts';
import type { Log } from '../../runtime/types.ts';
import { createFlowsDouble, type FlowsDouble } from './flows-double.ts';

export interface BrokerGrantSpec {
  url: string;
  username?: string;
  password?: string;
}

/** `gw-00001` style ids (valid gateway ids: no `/`, `+`, `#`, no dots for RabbitMQ's topic mapping). */
export function gatewayIds(n: number, prefix = 'gw'): string[] {
  const width = Math.max(4, String(n).length);
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
}

/** Enrolls `gw` offline into `<root>/provisioning` (what `wayside provision --file` does). */
export function provisionGateway(root: string, gw: string, platformKey: KeyObject, broker: BrokerGrantSpec, tags: Record<string, string> = {}): void {
  const bundle = makeBundle(platformKey, { gw, tags, broker });
  applyBundle(stateDir(join(root, 'provisioning')), bundle, { method: 'offline' });
}

export interface LightGatewaySpec {
  gw: string;
  /** gateway.stateDir (enrolled with provisionGateway first). */
  root: string;
  /** 5 (default) or 4 (MQTT 3.1.1). */
  protocolVersion?: 4 | 5;
  /** Sim poll interval, seconds (default 10). */
  intervalS?: number;
  /** deploy.healthWindow (default '1s'). */
  healthWindow?: string;
  /** uplink.topicPrefix (default wayside/v1). */
  prefix?: string;
  /** Overrides the enrolled broker URL (the cluster test points gateways at one node). */
  url?: string;
}

/** The config text of a light gateway: its enrolled uplink fragment, one sim device, no HTTP. */
export function lightConfigText(s: LightGatewaySpec): string {
  const fragment = parseYaml(readFileSync(join(s.root, 'provisioning', 'uplink.yaml'), 'utf8')) as { gateway: Record<string, unknown>; uplink: Record<string, unknown> };
  const doc = {
    version: 1,
    gateway: { ...fragment.gateway, stateDir: s.root },
    log: { level: 'error' },
    clock: { trust: 'always' },
    http: { enabled: false },
    flows: { enabled: false },
    uplink: {
      ...fragment.uplink,
      ...(s.url ? { url: s.url } : {}),
      protocolVersion: s.protocolVersion ?? 5,
      ...(s.prefix ? { topicPrefix: s.prefix } : {}),
      reconnect: { min: '1s', max: '10s' },
    },
    deploy: { healthWindow: s.healthWindow ?? '1s' },
    devices: [{ id: 'pole-sim', driver: 'sim', interval: `${s.intervalS ?? 10}s`, points: ['pm25', 'lamp_level'] }],
  };
  return stringify(doc);
}

export interface LightGateway {
  gw: string;
  agent: Agent;
  flows: FlowsDouble;
}

/** Starts one light gateway (see the header). */
export async function startLightGateway(s: LightGatewaySpec, log: Log = silentLog()): Promise<LightGateway> {
  const registry = createDriverRegistry(builtinDrivers(), { sections: productSections() });
  const file = join(s.root, 'wayside.yaml');
  const config = parseConfig(lightConfigText(s), file, registry);
  const flows = createFlowsDouble();
  const services = productServices(config, registry, { configFile: file })
    .filter((svc) => svc.name !== 'models')
    .map((svc) => (svc.name === 'flows' ? flows : svc));
  const agent = await startAgent({ config, services, log });
  return { gw: s.gw, agent, flows };
}
