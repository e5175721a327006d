// The `models:` config section (registered by the composition root through the driver
// registry's `sections`): where installed models live and how many threads each session uses.
//   models:
//     dir: models        # default <gateway.stateDir>/models; a relative path is relative to gateway.stateDir
//     threads: 1         # intra-op threads per model session, 1-16
import path from 'node:path';
import { z } from 'zod';
import { int, section, text } from '../runtime/config/fields.ts';
import type { WaysideConfig } from '../runtime/config/index.ts';

export const modelsSection = section({
  dir: text().optional().describe('folder of the installed models (<name>/manifest.json + .onnx); default <gateway.stateDir>/models, relative paths from gateway.stateDir'),
  threads: int(1, 16).default(1).describe('intra-op threads of each model session (the camera CPU budget)'),
}).prefault({});

export type ModelsConfig = z.output<typeof modelsSection>;

/** The absolute models folder of a config (the service and the CLI agree on it). */
export function modelsDir(cfg: Partial<ModelsConfig> | undefined, stateDir: string): string {
  return path.resolve(stateDir, cfg?.dir ?? 'models');
}

/** The section as parsed, or its defaults when the composition root did not register it. */
export function modelsConfig(config: WaysideConfig, section: unknown): ModelsConfig & { dir: string } {
  const cfg = section === undefined ? modelsSection.parse({}) : (section as ModelsConfig);
  return { ...cfg, dir: modelsDir(cfg, config.gateway.stateDir) };
}
