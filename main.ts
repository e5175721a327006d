// The composition root: the one module that knows every room of the house. It hands the
// framework (runtime/) the driver families and the services this product is made of; runtime/
// itself imports none of drivers/, flows/, models/ or provisioning/.
import { cameraFamily } from './drivers/camera/definition.ts';
import { builtinDrivers, checkSharedPorts } from './drivers/index.ts';
import { scanVerb } from './drivers/scan-cli.ts';
import type { BusRegistryOptions } from './drivers/common/bus.ts';
import { createModbusServerService } from './drivers/modbus-server/service.ts';
import { modbusServerSection } from './drivers/modbus-server/schema.ts';
import { createDevicesService } from './drivers/service.ts';
import { createFlowsService } from './flows/service.ts';
import { createModelsService, modelsCli, modelsDir, modelsSection, type ModelsConfig, type ModelsService } from './models/index.ts';
import { provisionVerb } from './provisioning/cli.ts';
import { provisioningSection } from './provisioning/config.ts';
import { bootConfig } from './provisioning/deploy/boot.ts';
import { MUTATING } from './provisioning/deploy/commands.ts';
import { createDeployService, deploySection, type DeployService } from './provisioning/deploy/service.ts';
import { createProvisioningService, type ProvisioningService } from './provisioning/service.ts';
import { startAgent, type Agent, type AgentOptions } from './runtime/agent.ts';
import type { CliApp } from './runtime/cli.ts';
import { CliUsageError, runCli } from './runtime/cli.ts';
import { configSection, parseConfig, readConfig, type WaysideConfig } from './runtime/config/index.ts';
import { createDriverRegistry, type DriverDefinition, type DriverRegistry } from './runtime/drivers.ts';
import type { Service } from './runtime/service.ts';
import { statusSection } from './status/config.ts';
import { createStatusService } from './status/service.ts';
import { createWatchVerb } from './status/watch.ts';
import type { z } from 'zod';

/** The top-level config sections the product's services own. */
export function productSections(): Record<string, z.ZodType> {
  return { models: modelsSection, modbusServer: modbusServerSection, provisioning: provisioningSection, deploy: deploySection(), status: statusSection };
}

/**
 * One agent's product: its driver families and its services, made together so that the camera
 * family and the models service share one engine. `opts` tunes serial reopen (tests).
 */
export function product(opts: BusRegistryOptions & { configFile?: string } = {}): { drivers: DriverDefinition[]; services(config: WaysideConfig, registry: DriverRegistry): Service[] } {
  const models = createModelsService();
  return {
    drivers: [...builtinDrivers(opts), cameraFamily({ models: () => models })],
    services: (config, registry) => productServices(config, registry, { models, configFile: opts.configFile }),
  };
}

/** A registry with the product's driver families and config sections, and its services. */
export function productRegistry(opts: BusRegistryOptions = {}): { registry: DriverRegistry; services(config: WaysideConfig): Service[] } {
  const p = product(opts);
  const registry = createDriverRegistry(p.drivers, { sections: productSections() });
  return { registry, services: (config) => p.services(config, registry) };
}

/** The product's services over one driver registry, in start order. */
export function productServices(_config: WaysideConfig, registry: DriverRegistry, opts: { models?: ModelsService; configFile?: string } = {}): Service[] {
  const models = opts.models ?? createModelsService();
  const devices = createDevicesService(registry);
  const flows = createFlowsService({ write: devices.write, devices: devices.list, infer: (image, model, o) => models.inferImage(image, model, o) });
  // After devices: its start checks the mapped points against the running drivers.
  const modbusServer = createModbusServerService({ write: devices.write, points: devices.list });
  const provisioning = createProvisioningService();
  const deploy = createDeployService({
    parseConfig: (text, file) => parseConfig(text, file, registry, process.env, { checks: [checkSharedPorts] }),
    configFile: opts.configFile,
    models: () => models,
  });
  signedDeploys(provisioning, deploy);
  // Models first: cameras ask it for their pipelines when the devices start; deploy last: it
  // drives the others.
  // The status page first: it listens on the bus before the devices' first readings.
  return [createStatusService(), models, devices, flows, modbusServer, provisioning, deploy];
}

/**
 * The deploy commands that change what the gateway runs need the platform's signature (the
 * provisioning service checks the envelope, then hands the payload on); one `versions.get`
 * answers both the identity and the deployed versions.
 */
function signedDeploys(provisioning: ProvisioningService, deploy: DeployService): void {
  const provCommands = provisioning.commands!.bind(provisioning);
  const deployCommands = deploy.commands!.bind(deploy);
  provisioning.commands = () => {
    const { 'versions.get': _, ...rest } = provCommands();
    return rest;
  };
  deploy.commands = () => {
    const own = deployCommands();
    const out = { ...own };
    for (const name of MUTATING) {
      const handler = own[name];
      if (handler) out[name] = provisioning.verifyThen((payload, meta) => handler(payload, { name: meta.name }));
    }
    const identity = provCommands()['versions.get'];
    const deployed = own['versions.get'];
    if (identity && deployed) out['versions.get'] = async (req, meta) => ({ ...((await identity(req, meta)) as object), deployed: await deployed(req, meta) });
    return out;
  };
}

/** `wayside models …` against the models folder of a config file. */
async function modelsVerb(argv: string[]): Promise<number> {
  const at = argv.findIndex((a) => a === '--config' || a === '-c');
  if (at < 0 || !argv[at + 1]) throw new CliUsageError('models: --config <file> is required (the models live under its gateway.stateDir)');
  const file = argv[at + 1];
  const rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  const { registry } = productRegistry();
  const { config } = readConfig(file, registry, { checks: [checkSharedPorts] });
  const stateDir = config.gateway.stateDir;
  return modelsCli(rest, { stdout: process.stdout, stderr: process.stderr, stateDir, modelsDir: modelsDir(configSection<ModelsConfig>(config, 'models'), stateDir) });
}

export const app: CliApp = {
  product: (o) => product({ configFile: o?.configFile }),
  bootConfig: (file, configFile, registry, log) =>
    bootConfig({ file, configFile, log, parse: (text, f) => parseConfig(text, f, registry, process.env, { checks: [checkSharedPorts] }) }),
  configChecks: [checkSharedPorts],
  configSections: productSections,
  verbs: {
    models: {
      usage: '  wayside models list|add ... --config <file>\n                                  the installed models (list [--json]; add <file.onnx> --name N)\n',
      run: modelsVerb,
    },
    provision: provisionVerb,
    scan: scanVerb,
    watch: createWatchVerb({ product: () => productRegistry(), checks: [checkSharedPorts] }),
  },
};

/** Starts an agent made of the product's services (tests and embedders use this). */
export function startWayside(opts: Omit<AgentOptions, 'services'> & { registry: DriverRegistry }): Promise<Agent> {
  const { registry, ...rest } = opts;
  return startAgent({ ...rest, services: productServices(opts.config, registry) });
}

if (import.meta.main) runCli(process.argv.slice(2), app);
