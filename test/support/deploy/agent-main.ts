// A real agent process for the deploy kill test: the product's services plus the deploy service,
// booted the way runtime/cli.ts will once the lead adds the bootConfig snippet (the deployed config
// overrides --config). `node agent-main.ts --config <file>`; SIGTERM stops it. Not shipped.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { builtinDrivers, checkSharedPorts } from '../../../drivers/index.ts';
import { productServices } from '../../../main.ts';
import { bootConfig } from '../../../provisioning/deploy/boot.ts';
import { createDeployService } from '../../../provisioning/deploy/service.ts';
import { startAgent } from '../../../runtime/agent.ts';
import { parseConfig, readConfig } from '../../../runtime/config/index.ts';
import { createDriverRegistry } from '../../../runtime/drivers.ts';
import { createLog } from '../../../runtime/log.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
const file = path.resolve(values.config!);
const registry = createDriverRegistry(builtinDrivers());
const checks = [checkSharedPorts];
const { config: fileConfig } = readConfig(file, registry, { checks });
const log = createLog({ level: fileConfig.log.level });
const parse = (text: string, pseudo: string) => parseConfig(text, pseudo, registry, process.env, { checks });
const config = bootConfig({ file: fileConfig, configFile: file, parse, log });
const deploy = createDeployService({ parseConfig: parse, configFile: file, options: { watchMs: Number(process.env.DEPLOY_WATCH_MS ?? 1000), pollMs: 100 } });
const agent = await startAgent({ config, services: [...productServices(config, registry), deploy], log });
process.once('SIGTERM', () => void agent.stop('SIGTERM').then(() => process.exit(0)));
