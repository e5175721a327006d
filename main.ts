// The composition root: the one module that knows every room of the house. It hands the
// framework (runtime/) the driver families and the services this product is made of; runtime/
// itself imports none of drivers/, flows/, models/ or provisioning/.
import { builtinDrivers, checkSharedPorts } from './drivers/index.ts';
import { createDevicesService } from './drivers/service.ts';
import { createModbusServerService } from './drivers/modbus-server/service.ts';
import { modbusServerSection } from './drivers/modbus-server/schema.ts';
import { createFlowsService } from './flows/service.ts';
import { startAgent, type Agent, type AgentOptions } from './runtime/agent.ts';
import type { CliApp } from './runtime/cli.ts';
import { runCli } from './runtime/cli.ts';
import type { WaysideConfig } from './runtime/config/index.ts';
import type { DriverRegistry } from './runtime/drivers.ts';
import type { Service } from './runtime/service.ts';
import type { z } from 'zod';

/** The top-level config sections the product's services own. */
export function productSections(): Record<string, z.ZodType> {
  return { modbusServer: modbusServerSection };
}

/** The product's services over one driver registry, in start order. */
export function productServices(_config: WaysideConfig, registry: DriverRegistry): Service[] {
  const devices = createDevicesService(registry);
  const flows = createFlowsService({ write: devices.write, devices: devices.list });
  // After devices: its start checks the mapped points against the running drivers.
  const modbusServer = createModbusServerService({ write: devices.write, points: devices.list });
  return [devices, flows, modbusServer];
}

export const app: CliApp = {
  product: () => ({ drivers: builtinDrivers(), services: productServices }),
  configChecks: [checkSharedPorts],
  configSections: productSections,
};

/** Starts an agent made of the product's services (tests and embedders use this). */
export function startWayside(opts: Omit<AgentOptions, 'services'> & { registry: DriverRegistry }): Promise<Agent> {
  const { registry, ...rest } = opts;
  return startAgent({ ...rest, services: productServices(opts.config, registry) });
}

if (import.meta.main) runCli(process.argv.slice(2), app);
