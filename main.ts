// The composition root: the one module that knows every room of the house. It hands the
// framework (runtime/) the driver families and the services this product is made of; runtime/
// itself imports none of drivers/, flows/, models/ or provisioning/.
import { builtinDrivers } from './drivers/index.ts';
import type { CliApp } from './runtime/cli.ts';
import { runCli } from './runtime/cli.ts';

export const app: CliApp = {
  drivers: builtinDrivers,
  services: () => [],
};

if (import.meta.main) runCli(process.argv.slice(2), app);
