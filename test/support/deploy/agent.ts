// Test support for deploys: the real agent (startAgent) made of the product's services plus the
// deploy service, with config text parsed by the real loader and registry. Not shipped.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtinDrivers } from '../../../drivers/index.ts';
import { productServices } from '../../../main.ts';
import { createDeployService, type DeployService } from '../../../provisioning/deploy/service.ts';
import type { MachineOptions } from '../../../provisioning/deploy/machine.ts';
import { startAgent, type Agent } from '../../../runtime/agent.ts';
import { parseConfig } from '../../../runtime/config/index.ts';
import { createDriverRegistry } from '../../../runtime/drivers.ts';
import { silentLog } from '../../../runtime/log.ts';
import { panelDriver, type PanelHandle } from '../flows/testing.ts';

export interface DeployAgent {
  agent: Agent;
  deploy: DeployService;
  dir: string;
  configFile: string;
  panels: Map<string, PanelHandle>;
  /** Calls a deploy command handler as the uplink would. */
  cmd(name: string, payload?: unknown): Promise<any>;
}

/** `yaml` is the whole config except `version`/`gateway`; the file is written to <dir>/wayside.yaml. */
export async function startDeployAgent(yaml: string, opts: { dir?: string; options?: Partial<MachineOptions> } = {}): Promise<DeployAgent> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'wayside-deploy-'));
  const panels = new Map<string, PanelHandle>();
  const registry = createDriverRegistry([...builtinDrivers(), panelDriver(panels)]);
  const configFile = path.join(dir, 'wayside.yaml');
  const text = `version: 1\ngateway: { id: pole-dep, stateDir: ${path.join(dir, 'state')} }\nclock: { trust: always }\n${yaml}`;
  writeFileSync(configFile, text);
  const config = parseConfig(text, configFile, registry);
  const deploy = createDeployService({ parseConfig: (t, f) => parseConfig(t, f, registry), configFile, options: { pollMs: 100, ...opts.options } });
  const agent = await startAgent({ config, services: [...productServices(config, registry), deploy], log: process.env.WAYSIDE_TEST_LOG ? undefined : silentLog() });
  return { agent, deploy, dir, configFile, panels, cmd: (name, payload) => deploy.handlers()[name](payload) };
}

/** The header a deployed config needs to stay on the same gateway and state dir. */
export function configHead(d: DeployAgent): string {
  return `version: 1\ngateway: { id: pole-dep, stateDir: ${path.join(d.dir, 'state')} }\nclock: { trust: always }\n`;
}
